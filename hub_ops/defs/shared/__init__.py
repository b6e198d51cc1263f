"""What several domains share: the Dagster resources (resources.py), the `hubs` partitions,
the pods that mount a hub's homes, and the reader of recorded metadata."""
