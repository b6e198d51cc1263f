"""The one Definitions of hub_ops: everything under hub_ops/defs, loaded by Dagster's defs
folder loader (configured by hub_ops/dg.toml). HUB_OPS_ENV (hub_ops.settings) picks the
resources: "local" (default) or "production"."""

import warnings
from pathlib import Path

import dagster as dg

# Dagster re-creates every sensor when it binds resources, passing its own beta `owners`
# parameter (hub_ops sets none), and warns about it on every load
warnings.filterwarnings(
    "ignore", message=r"Parameter `owners` of initializer `SensorDefinition.__init__`", category=dg.BetaWarning
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
