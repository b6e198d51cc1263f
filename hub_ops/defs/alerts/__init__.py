"""The alerts domain: one sensor turns failed runs, failed checks, failing or silent sensors
and schedules, and decommission notices into incidents, sends them through fleet.yaml's
alert routes, and records incidents and deliveries on the `alert_incidents` asset. The
library is hub_ops.alerts."""
