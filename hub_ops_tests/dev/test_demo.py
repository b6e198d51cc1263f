"""`make demo`'s deploy step, run as `python -m hub_ops_dev.demo --only fleet deploy status`
(a process of its own: hub_ops reads its settings once per process).

With the local stack prepared, it deploys local-demo for real: the Dagster instance it leaves
records both hubs deployed and health-checked, the hubs' JupyterHub processes ran, a release
changed by hand is DRIFT in hub_releases_in_sync and in fleet_status, and nothing it started
is left running. Without the build it stays a dry run and says how to get the real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from hub_ops_dev.stack.kube_build import ensure_kube_binaries
from hub_ops_dev.stack.process import port_open

REPO = Path(__file__).resolve().parents[2]
LOCAL_HUBS = ("local-demo/staging", "local-demo/workshop")


def run_demo(data: Path, *, env: dict | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "hub_ops_dev.demo", "--data", str(data), "--only", "fleet", "deploy", "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    return proc.stdout


def test_demo_deploys_local_demo_for_real_and_catches_the_drift(tmp_path):
    ensure_kube_binaries()  # the stack is prepared (make test prepares it; this builds it if not)
    stdout = run_demo(tmp_path / "demo")

    import dagster as dg

    from hub_ops.defs.deploy.assets import latest_hub_release
    from hub_ops.defs.deploy.checks import latest_sync_states
    from hub_ops.defs.shared.metadata import latest_materialization

    with dg.DagsterInstance.from_config(str(tmp_path / "demo" / "dagster")) as instance:
        for hub_id in LOCAL_HUBS:
            record = latest_hub_release(instance, hub_id.replace("/", "."))
            assert record is not None, f"no hub_releases record for {hub_id}:\n{stdout}"
            assert (record.cluster, record.status, record.helm_revision) == ("local-demo", "deployed", 1)
            # the health check started and stopped a server on THAT hub (JupyterHub's own version)
            assert record.health.startswith("JupyterHub ") and "server of hub-ops-health started" in record.health
        sync = latest_sync_states(instance)
        assert sync["local-demo/staging"][0] == "in sync"
        state, detail = sync["local-demo/workshop"]
        assert state == "DRIFT" and "live revision 2, recorded 1 (changed outside hub_ops?)" in detail
        status, _ = latest_materialization(instance, dg.AssetKey("fleet_status"))
        rows = {r.data["hub"]: r.data for r in status["hubs"].records}
        assert rows["local-demo/workshop"]["sync"] == "DRIFT" and rows["local-demo/workshop"]["state"] == "failing"
        assert rows["local-demo/staging"]["sync"] == "in sync"

    # the hubs ran as JupyterHub processes of the stand-in kubelet, with the service token of the values
    kubelet = tmp_path / "demo" / "stack" / "kubelet"
    for namespace in ("staging", "workshop"):
        logs = "".join(p.read_text() for p in kubelet.glob(f"{namespace}_*/hub.log"))
        assert "--- start jupyterhub" in logs and "Adding external service hub-ops" in logs, namespace
    # the deployed commit points local-demo at the kube-apiserver the step started, which is stopped now
    kubeconfig = yaml.safe_load((tmp_path / "demo" / "stack" / "kube" / "kubeconfig").read_text())
    port = int(kubeconfig["clusters"][0]["cluster"]["server"].rsplit(":", 1)[1])
    assert not port_open(port)
    assert "stopped the kube-apiserver and the hub processes of local-demo" in stdout


def test_demo_without_the_build_stays_a_dry_run_and_says_how_to_get_the_real_one(tmp_path):
    stdout = run_demo(tmp_path / "demo", env={"HUB_OPS_CACHE": str(tmp_path / "empty-cache")})

    assert "deploy_job (dry run) for pangeo-hubs: succeeded" in stdout
    [hint] = [line for line in stdout.splitlines() if "make stack-prepare" in line]
    assert hint.startswith("dry runs only:") and "make demo` deploys local-demo's hubs for real" in hint
    assert not (tmp_path / "demo" / "stack").exists()
    assert "local-demo/workshop" in stdout and "DRIFT" not in stdout
