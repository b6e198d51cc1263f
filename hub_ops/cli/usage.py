"""hub-ops usage: who used each hub in a month, from the activity ledger hub_usage records."""

from __future__ import annotations

import datetime as dt

import click


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month as YYYY-MM") from None


@click.command("usage")
@click.option("--month", required=True, help="The month, YYYY-MM.")
@click.option("--hub", "hub_id", help="One hub, CLUSTER/HUB: its table day by day.")
@click.pass_context
def usage(ctx: click.Context, month: str, hub_id: str | None) -> None:
    """Monthly active users, days observed, busiest day and peak concurrent servers per hub
    (with --hub: that hub day by day). Reads what the hub_usage asset recorded under
    <reports destination>/usage/activity; counts only, never user names. Changes nothing."""
    import pandas as pd

    from hub_ops.clients.storage import storage_from_env
    from hub_ops.fleet import FleetConfigError, load_fleet
    from hub_ops.usage.activity import UsageLedger, daily_row
    from hub_ops.usage.tables import ledger_folder, month_rows

    start = _month(month)
    try:
        fleet = load_fleet(ctx.obj["fleet_root"])
        hubs = [h.id for h in fleet.hubs()]
        hub_id = fleet.hub(hub_id).id if hub_id is not None else None
    except FleetConfigError as e:
        raise click.ClickException(str(e)) from None
    except KeyError as e:
        raise click.ClickException(e.args[0]) from None
    ledger = UsageLedger(storage_from_env(), ledger_folder(fleet.settings.reports.destination))
    if hub_id is None:
        rows = month_rows(ledger, hubs, start)
    else:
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        rows = [daily_row(ledger.day(hub_id, d), hub_id, d) for d in days]
    frame = pd.DataFrame(rows)
    click.echo(frame.astype(object).where(frame.notna(), None).to_markdown(index=False, missingval=""))
    if not any(r.get("days_observed") or r.get("observations") for r in rows):
        click.echo(f"warning: nothing recorded for {month} in {ledger.folder}: has hub_usage run?", err=True)
