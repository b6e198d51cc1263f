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
    # Built at the defs folder, not at the tree's root: the root adds a catalogue of every
    # installed Dagster plugin's component types (importing dagster-gcp, BigQuery, pandas...:
    # ~1 s of each load), which only the `dg` tooling reads and hub_ops declares none of.
    # Quiet like load_from_defs_folder: Dagster's own loaders warn that they are in preview.
    with warnings.catch_warnings():
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", category)
        tree = dg.ComponentTree.for_project(Path(__file__).parent)
        return dg.Definitions.merge(tree.build_defs(tree.defs_module_path), dg.Definitions(component_tree=tree))
