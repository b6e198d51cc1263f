"""`hub-ops`: the terminal face of hub_ops, over the same library code Dagster runs.

Subcommands are imported only when invoked, so `hub-ops validate` and `hub-ops plan`
never pay for Dagster, pandas or cloud clients.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"; each domain keeps its commands in its own module
COMMANDS = {
    "validate": "hub_ops.cli.fleet:validate",
    "plan": "hub_ops.cli.fleet:plan",
    "diff": "hub_ops.cli.diff:diff",
    "schema": "hub_ops.cli.fleet:schema",
    "backup": "hub_ops.cli.backup:backup",
    "snapshots": "hub_ops.cli.backup:snapshots",
    "verify": "hub_ops.cli.backup:verify",
    "restore": "hub_ops.cli.backup:restore",
    "prune": "hub_ops.cli.backup:prune",
    "cost-report": "hub_ops.cli.costs:cost_report",
    "usage": "hub_ops.cli.usage:usage",
    "community-report": "hub_ops.cli.usage:community_report",
    "compare-homes": "hub_ops.cli.decommission:compare_homes",
    "alerts": "hub_ops.cli.alerts:alerts",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:  # a domain not built yet
            raise click.ClickException(f"{name}: not available ({e})") from None


def default_fleet_root() -> str:
    from hub_ops.settings import get_settings

    return get_settings().fleet_folder()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--fleet",
    "fleet_root",
    default=default_fleet_root,
    show_default="$HUB_OPS_FLEET or ./deployments",
    type=click.Path(file_okay=False),
    help="The fleet's root folder (fleet.yaml, or the 2i2c layout).",
)
@click.version_option(package_name="hub_ops")
@click.pass_context
def main(ctx: click.Context, fleet_root: str) -> None:
    """Operate a fleet of JupyterHubs declared in git."""
    ctx.obj = {"fleet_root": fleet_root}
