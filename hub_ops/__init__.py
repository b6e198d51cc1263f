"""hub_ops: an operations control plane for fleets of JupyterHubs."""

__version__ = "0.1.0"
