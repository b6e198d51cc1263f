"""Tooling for a source checkout of hub_ops: the local stack (`stack`), `make demo` (`demo`)
and sample billing exports (`sample_billing`). Not installed with hub_ops."""
