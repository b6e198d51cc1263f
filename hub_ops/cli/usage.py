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


@click.command("community-report")
@click.option("--hub", "hub_id", required=True, help="The hub, CLUSTER/HUB.")
@click.option("--month", required=True, help="The month, YYYY-MM.")
@click.option("--out", "out_dir", default=".", show_default=True, help="Folder (or URL) for the page.")
@click.pass_context
def community_report(ctx: click.Context, hub_id: str, month: str, out_dir: str) -> None:
    """One hub's month for its community: writes <out>/<cluster>/<hub>/YYYY-MM.md and a standalone
    .html (charts embedded): active users by day, cost by day and per active user, home storage
    growth, and the decommission notice when the hub's notice window is open (from its
    cluster.yaml; the Dagster asset community_reports also reads recorded retirements). Reads what
    hub_usage, the cost reports and the backups recorded; counts only, never user names."""
    from pathlib import Path

    from hub_ops.clients.storage import storage_from_env
    from hub_ops.fleet import FleetConfigError, load_fleet
    from hub_ops.settings import get_settings
    from hub_ops.usage.community import gather, open_notice
    from hub_ops.usage.community_page import community_page, page_urls, write_page

    start = _month(month)
    try:
        fleet = load_fleet(ctx.obj["fleet_root"])
        hub = fleet.hub(hub_id)
    except FleetConfigError as e:
        raise click.ClickException(str(e)) from None
    except KeyError as e:
        raise click.ClickException(e.args[0]) from None
    today = get_settings().today or dt.datetime.now(dt.UTC).date()
    storage = storage_from_env()
    try:
        data = gather(storage, fleet, hub, start, today, open_notice(hub, today))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if "://" not in out_dir:
        out_dir = str(Path(out_dir).resolve())
    urls = page_urls(out_dir, hub.id, start)
    write_page(storage, urls, community_page(data, today))
    click.echo(
        f"{hub.id}, {month}: monthly active users {_known(data.active_users)}, days observed "
        f"{len(data.observed_days)} of {len(data.days)}, net cost {_known(data.month_cost)} {data.currency}".rstrip()
    )
    for url in urls.values():
        click.echo(f"wrote {storage.resolve(url).removeprefix('file://')}")


def _known(value) -> str:
    return "unknown" if value is None else f"{value:,}"
