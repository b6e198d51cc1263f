"""hub-ops alerts test: send a test message through each alert route and say what it answered."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click


@click.group()
def alerts() -> None:
    """The alert routes of fleet.yaml (`alerts:`)."""


@alerts.command("test")
@click.option("--route", "route_names", multiple=True, help="Only this route (repeatable); default: every route.")
@click.pass_context
def test(ctx: click.Context, route_names: tuple[str, ...]) -> None:
    """Send a test message through each route; print each answer (exit 1 if any failed)."""
    from hub_ops.alerts import Sender, dispatch
    from hub_ops.alerts.incidents import TEST, Incident, Notification
    from hub_ops.alerts.secrets import SecretResolver, fleet_secret_values
    from hub_ops.clients.sops import Sops
    from hub_ops.fleet import FleetConfigError, load_fleet
    from hub_ops.settings import get_settings

    root = Path(ctx.obj["fleet_root"])
    try:
        fleet = load_fleet(root)
    except FleetConfigError as e:
        raise click.ClickException(f"fleet config invalid:\n{e}") from None
    settings = fleet.settings.alerts
    known = [r.name for r in settings.routes]
    unknown = [name for name in route_names if name not in known]
    if unknown:
        raise click.ClickException(f"no route {', '.join(unknown)} in fleet.yaml alerts (routes: {', '.join(known)})")
    if route_names:
        settings = settings.model_copy(update={"routes": [r for r in settings.routes if r.name in route_names]})
    if not settings.routes:
        raise click.ClickException("fleet.yaml has no alert routes")
    now = dt.datetime.now(dt.UTC)
    incident = Incident(
        source="hub-ops alerts test",
        subject="",
        severity="info",
        kind="fleet",
        title="hub-ops alerts test: this route works",
        detail="Sent by `hub-ops alerts test`. Nothing is wrong.",
        cluster="",
        hub="",
        link="/",
        next_step="Nothing to do.",
        opened_at=now,
        last_failure_at=now,
        last_notified_at=now,
    )
    sops = Sops(get_settings().age_key_file(fleet.root))
    sender = Sender(SecretResolver(fleet.root, sops), fleet_secret_values(fleet, sops), attempts=1)
    deliveries = dispatch(settings, [Notification(TEST, incident, now)], sender, now)
    for d in deliveries:
        click.echo(f"{d.route} ({d.channel}): {'ok' if d.ok else 'FAILED'}: {d.answer}")
    sys.exit(0 if all(d.ok for d in deliveries) else 1)
