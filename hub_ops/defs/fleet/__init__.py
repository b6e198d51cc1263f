"""The fleet domain: the `hubs` partitions kept equal to the fleet config."""
