"""The decommission domain: hub_decommissions, decommission_notices, decommission_job and
its schedule, and the orphaned-release check."""
