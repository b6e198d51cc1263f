"""The clusters domain: each cluster's observed state and checks of it against the fleet's
config."""
