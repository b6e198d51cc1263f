"""fleet_status's test runs real backups: the backups domain's fixture."""

from hub_ops_tests.defs.backups.conftest import backup_fleet  # noqa: F401
