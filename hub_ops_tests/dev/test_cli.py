"""`hub-ops-stack up|status|down` as a person runs it: a detached stack, then gone."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request

import boto3
import psycopg2
from azure.storage.blob import BlobServiceClient
from kubernetes import client, config

from hub_ops_dev.stack.cli import group_members


def _stack(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub_ops_dev.stack.cli", command], env=env, capture_output=True, text=True, timeout=300
    )


def _parse_exports(stdout: str) -> dict[str, str]:
    exports = {}
    for line in stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        exports[key] = shlex.split(value)[0]
    return exports


def test_up_is_idempotent_serves_every_component_and_down_stops_them(tmp_path):
    env = {**os.environ, "HUB_OPS_STACK_DIR": str(tmp_path / "stack")}
    try:
        first = _stack("up", env)
        assert first.returncode == 0, first.stderr
        exports = _parse_exports(first.stdout)
        state = json.loads((tmp_path / "stack" / "state.json").read_text())
        assert [p["name"] for p in state["processes"]] == [
            "fake-gcs-server",
            "moto",
            "azurite",
            "postgres",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "jupyterhub",
        ]

        api = config.new_client_from_config(config_file=exports["KUBECONFIG"])
        assert "default" in [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        api.close()
        with psycopg2.connect(exports["HUB_OPS_POSTGRES_URL"]) as conn, conn.cursor() as cur:
            cur.execute("select current_database()")
            assert cur.fetchone() == ("hub_ops",)
        with urllib.request.urlopen(
            f"{exports['HUB_OPS_GCS_ENDPOINT']}/storage/v1/b/{exports['HUB_OPS_GCS_BUCKET']}"
        ) as r:
            assert json.load(r)["name"] == "hub-ops-local"
        # S3 and Azure Blob through their SDKs' standard environment, as `hub-ops backup` reads it
        sdk_env = {k: v for k, v in exports.items() if k.startswith(("AWS_", "AZURE_"))}
        s3 = boto3.client(
            "s3",
            endpoint_url=sdk_env["AWS_ENDPOINT_URL"],
            region_name=sdk_env["AWS_REGION"],
            aws_access_key_id=sdk_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=sdk_env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.put_object(Bucket="hub-ops-local", Key="probe", Body=b"s3")
        assert s3.get_object(Bucket="hub-ops-local", Key="probe")["Body"].read() == b"s3"
        blobs = BlobServiceClient.from_connection_string(sdk_env["AZURE_STORAGE_CONNECTION_STRING"])
        blobs.get_blob_client("hub-ops-local", "probe").upload_blob(b"az")
        assert blobs.get_blob_client("hub-ops-local", "probe").download_blob().readall() == b"az"
        request = urllib.request.Request(
            f"{exports['HUB_OPS_HUB_URL']}/hub/api/users",
            headers={"Authorization": f"token {exports['HUB_OPS_HUB_API_TOKEN']}"},
        )
        with urllib.request.urlopen(request) as r:
            assert r.status == 200

        again = _stack("up", env)
        assert "already up" in again.stderr
        assert _parse_exports(again.stdout) == exports
        status = _stack("status", env)
        assert status.returncode == 0 and status.stdout.count("running") == 8
        for secret in ("HUB_OPS_HUB_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING"):
            assert exports[secret] not in status.stdout
    finally:
        down = _stack("down", env)
    assert down.returncode == 0, down.stderr
    assert [p["name"] for p in state["processes"] if group_members(p["pid"])] == []
    assert _stack("status", env).returncode == 1
    assert "nothing was running" in _stack("down", env).stderr
