"""Demo: a nightly backup fails two nights and passes the third; alerts_sensor raises one
incident, reminds once, and says "resolved", into a local webhook receiver (printed).

Works on a copy of the example fleet whose alerts block routes backups of
local-demo/staging to a Slack-format and a signed generic webhook on this machine (the
secrets in a sops file encrypted to the demo age key). The first two nights the hub's home
folder is missing (a file stands in its place: the volume is not mounted); the third night
it is back. The sensor is evaluated as the daemon would, at times the demo sets.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from hub_ops_dev.demo import DemoContext

NIGHT1 = dt.datetime(2026, 11, 2, 2, 30, tzinfo=dt.UTC)  # within the backup partitions (fleet.yaml start_date)
DAY = dt.timedelta(days=1)


def _receiver() -> tuple[ThreadingHTTPServer, list[tuple[str, dict]]]:
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def _encrypt(path, age_key_file) -> None:
    from hub_ops.clients.sops import sops_binary
    from hub_ops.settings import child_environment

    public = next(line.split(":", 1)[1].strip() for line in open(age_key_file) if "public key" in line)
    env = child_environment(SOPS_DISABLE_VERSION_CHECK="1", SOPS_AGE_RECIPIENTS=public)
    subprocess.run([sops_binary(), "--encrypt", "--in-place", str(path)], check=True, env=env, capture_output=True)


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.definitions import defs
    from hub_ops.defs.alerts.resources import AlertDeliveryResource
    from hub_ops.defs.alerts.sensors import evaluate_alerts
    from hub_ops.defs.backups.partitions import backup_partition_key
    from hub_ops.defs.shared.resources import (
        BackupRunnerResource,
        FleetResource,
        KubeResource,
        SopsResource,
        StorageResource,
    )

    server, received = _receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    fleet_root = ctx.scratch("alerts") / "fleet"
    shutil.copytree(ctx.fleet_root, fleet_root, dirs_exist_ok=True)
    age_key = fleet_root / "demo.agekey"
    homes = ctx.scratch("alerts") / "homes" / "staging"
    for user in ("ada", "bob"):
        (homes / user).mkdir(parents=True)
        (homes / user / "notes.md").write_text(f"{user}'s notes\n" * 50)
    settings = yaml.safe_load((fleet_root / "fleet.yaml").read_text())
    settings["alerts"] = {
        "ui_url": "http://localhost:3000",
        "repeat_after": "24h",
        "routes": [
            {
                "name": "ops-slack",
                "slack": {"webhook": "alerts.secret.yaml#slack_webhook"},
                "match": {"hub": ["local-demo/staging"]},
            },
            {
                "name": "pager",
                "webhook": {"url": f"{url}/pager", "secret": "alerts.secret.yaml#hmac"},
                "match": {"severity": ["error"], "hub": ["local-demo/staging"]},
            },
        ],
    }
    (fleet_root / "fleet.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    secrets = fleet_root / "alerts.secret.yaml"
    secrets.write_text(
        yaml.safe_dump({"slack_webhook": f"{url}/slack/T0DEMO/B0DEMO/demo-slack-secret", "hmac": "demo"})
    )
    _encrypt(secrets, age_key)
    cluster_yaml = fleet_root / "clusters/local-demo/cluster.yaml"
    doc = yaml.safe_load(cluster_yaml.read_text())
    next(h for h in doc["hubs"] if h["name"] == "staging")["home"] = {"local_path": str(homes)}
    cluster_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))

    sops = SopsResource(age_key_file=str(age_key))
    backup_resources = {
        "fleet": FleetResource(root=str(fleet_root)),
        "storage": StorageResource(local_root=str(ctx.data)),
        "backup_runner": BackupRunnerResource(kube=KubeResource(sops=sops)),
        "kube": KubeResource(sops=sops),
        "sops": sops,
    }
    whole = defs()
    job = dg.Definitions(
        assets=whole.assets,
        asset_checks=whole.asset_checks,
        jobs=whole.jobs,
        resources={**(whole.resources or {}), **backup_resources},
    ).resolve_job_def("user_home_backups_job")
    alert_resources = {
        "fleet": FleetResource(root=str(fleet_root)),
        "sops": sops,
        "alert_delivery": AlertDeliveryResource(),
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    aside = homes.with_name("staging-unmounted")
    out: list[str] = []
    cursor = None

    def tick(instance, now: dt.datetime) -> None:
        nonlocal cursor
        result = evaluate_alerts(dg.build_sensor_context(instance=instance, cursor=cursor), now=now, **alert_resources)
        cursor = result.cursor
        for event in result.asset_events or []:
            instance.report_runless_asset_event(event)

    try:
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("hubs", ["local-demo.staging"])
            tick(instance, NIGHT1 - DAY)
            for night, mounted in enumerate((False, False, True)):
                if not mounted and not aside.exists():
                    homes.rename(aside)
                    homes.write_text("the home volume is not mounted\n")
                if mounted and aside.exists():
                    homes.unlink()
                    aside.rename(homes)
                date = (NIGHT1 + (night - 1) * DAY).date().isoformat()
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=backup_partition_key(date, "local-demo.staging"),
                    tags={"hub_ops/hub": "local-demo/staging", "hub_ops/kind": "backup"},
                    run_config=quiet,
                    raise_on_error=False,
                )
                out.append(f"night of {date}: backup {'ok' if result.success else 'FAILED'} (run {result.run_id[:8]})")
                for hours in (0, 6, 12):
                    tick(instance, NIGHT1 + night * DAY + dt.timedelta(hours=hours))
    finally:
        server.shutdown()
        server.server_close()

    out.append("(the runs are real and ran just now; the sensor was evaluated at each night's time)")
    for path, body in received:
        if path == "/pager":
            inc = body["incident"]
            out.append(f"pager <- {body['event']}: {inc['title']} (since {inc['since']})")
            if body["event"] == "raised":
                out.append(f"         error: {inc['detail'][:110]}")
                out.append(f"         next: {inc['next_step'][:100]}...")
            out.append(f"         link: {inc['link']}")
        else:
            out.append(f"slack <- {body['text']}")
    events = [body["event"] for path, body in received if path == "/pager"]
    if events != ["raised", "reminder", "resolved"]:
        raise RuntimeError(f"expected raised, reminder, resolved; the pager got {events}")
    return out
