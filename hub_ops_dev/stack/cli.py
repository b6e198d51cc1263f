"""`hub-ops-stack up|down|status`: the local stack by hand, detached from the shell.

`up` starts fake-gcs-server, moto (S3, STS, EKS), Azurite (Azure Blob), PostgreSQL,
etcd + kube-apiserver + kube-controller-manager and JupyterHub, records each server's
process group in <stack dir>/state.json and prints shell exports (also written to <stack dir>/stack.env, mode 0600):

    eval "$(hub-ops-stack up)"

The stack dir is $HUB_OPS_STACK_DIR or ~/.cache/hub_ops/stack; logs live beside the state.
`down` stops exactly the process groups `up` recorded (after checking each is still the
program it started), so it never touches anything else. Both are idempotent.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import click

from hub_ops_dev.stack.kube_build import cache_root
from hub_ops_dev.stack.process import ServerProcess, StackError

GCS_BUCKET = "hub-ops-local"
BUCKET = GCS_BUCKET  # the S3 bucket and the Azure Blob container have the same name
POSTGRES_DATABASE = "hub_ops"


def stack_dir() -> Path:
    return Path(os.environ.get("HUB_OPS_STACK_DIR") or cache_root() / "stack")


def _say(message: str) -> None:
    click.echo(message, err=True)


def _exe(pid: int) -> str | None:
    """The program name of `pid`, or None when no such process exists."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else None


def _alive(entry: dict) -> bool:
    """Is the recorded group leader still running the program we started (not a reused pid)?"""
    return _exe(entry["pid"]) == entry["exe"]


def _record(name: str, process: ServerProcess | None) -> dict:
    if process is None or process.proc is None:
        raise StackError(f"{name} did not start")
    # the program really running (runuser for postgres), so `down` can recognise it
    return {"name": name, "pid": process.proc.pid, "exe": _exe(process.proc.pid), "log": str(process.log)}


def _read_state(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _exports(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`.

    Zombies are left out: after `up` exits, init reaps our servers, sometimes seconds late.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _stop_group(entry: dict, timeout: float = 20.0) -> None:
    """SIGTERM the group `up` recorded for one server; SIGKILL it after `timeout`."""
    if not _alive(entry):
        return
    pgid = entry["pid"]
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.05)


def stop_stack(directory: Path) -> list[str]:
    """Stop what `up` recorded in `directory`, newest first; return the names stopped. Idempotent."""
    state = _read_state(directory)
    if state is None:
        return []
    stopped = []
    for entry in reversed(state["processes"]):
        if _alive(entry):
            _stop_group(entry)
            stopped.append(entry["name"])
    for extra in state.get("remove", []):
        shutil.rmtree(extra, ignore_errors=True)
    (directory / "state.json").unlink(missing_ok=True)
    (directory / "stack.env").unlink(missing_ok=True)
    return stopped


def start_stack(directory: Path) -> dict:
    """Start every server under `directory` (wiped first); returns the state `up` records.

    All or nothing: when one server fails, the ones already started are stopped again and
    the StackError (with that server's log tail) propagates.
    """
    from hub_ops_dev.stack.azurite import AzuriteServer
    from hub_ops_dev.stack.gcs import FakeGcsServer
    from hub_ops_dev.stack.jupyterhub import JupyterHubServer
    from hub_ops_dev.stack.kube import KubeCluster
    from hub_ops_dev.stack.moto import MotoServer
    from hub_ops_dev.stack.postgres import PostgresServer

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started: list = []
    timings: dict[str, float] = {}

    def timed(name: str, server):
        begin = time.monotonic()
        _say(f"starting {name} ...")
        started.append(server)
        server.start()
        timings[name] = round(time.monotonic() - begin, 2)
        _say(f"  {name} up in {timings[name]:.1f} s")
        return server

    try:
        gcs = timed("fake-gcs-server", FakeGcsServer(directory / "gcs"))
        gcs.create_bucket(GCS_BUCKET)
        moto = timed("moto", MotoServer(directory / "moto"))
        _create_s3_bucket(moto.env(), BUCKET)
        azurite = timed("azurite", AzuriteServer(directory / "azurite"))
        azurite.create_container(BUCKET)
        # postgres must reach its folder: not under ~ (0700 for root), so /tmp; `down` removes it
        postgres = timed("postgres", PostgresServer())
        postgres_url = postgres.create_database(POSTGRES_DATABASE)
        kube = timed("kubernetes", KubeCluster(directory / "kube"))
        hub = timed("jupyterhub", JupyterHubServer(directory / "jupyterhub"))
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise

    processes = [
        _record("fake-gcs-server", gcs.server),
        _record("moto", moto.server),
        _record("azurite", azurite.server),
        _record("postgres", postgres.server),
        *(_record(p.name, p) for p in kube.processes),
        _record("jupyterhub", hub.server),
    ]
    env = {
        "KUBECONFIG": str(kube.kubeconfig),
        "STORAGE_EMULATOR_HOST": gcs.endpoint,
        "HUB_OPS_GCS_ENDPOINT": gcs.endpoint,
        "HUB_OPS_GCS_BUCKET": GCS_BUCKET,
        # each SDK's standard environment: `--dest s3://hub-ops-local/...` and `az://hub-ops-local/...` work as is
        **moto.env(),
        **azurite.env(),
        "HUB_OPS_POSTGRES_URL": postgres_url,
        "HUB_OPS_HUB_URL": hub.url,
        "HUB_OPS_HUB_API_TOKEN": hub.api_token,
    }
    return {
        "processes": processes,
        "env": env,
        "timings_s": timings,
        "remove": [str(postgres.workdir)],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _create_s3_bucket(env: dict[str, str], name: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": env["AWS_REGION"]})


@click.group()
def main() -> None:
    """The local stack (kube-apiserver, GCS, S3, Azure Blob, Postgres, JupyterHub) for hand testing."""


@main.command()
def up() -> None:
    """Start the stack detached (or reuse a running one) and print shell exports."""
    directory = stack_dir()
    state = _read_state(directory)
    if state and all(_alive(p) for p in state["processes"]):
        _say(f"stack already up ({directory})")
    else:
        if state:
            _say("a previous stack is partly down: stopping what is left")
            stop_stack(directory)
        from hub_ops_dev.stack.kube_build import ensure_kube_binaries

        ensure_kube_binaries(log=_say)
        try:
            state = start_stack(directory)
        except StackError as exc:
            raise click.ClickException(str(exc)) from exc
        (directory / "state.json").write_text(json.dumps(state, indent=2))
        env_file = directory / "stack.env"
        env_file.touch(mode=0o600)
        env_file.write_text(_exports(state["env"]))
        _say(f"stack up; logs under {directory}; stop it with: hub-ops-stack down")
    click.echo(_exports(state["env"]), nl=False)


@main.command()
def down() -> None:
    """Stop the servers `up` started (only those), and forget them."""
    stopped = stop_stack(stack_dir())
    _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@main.command()
def status() -> None:
    """Show each server of the stack: running or not, and its log."""
    state = _read_state(stack_dir())
    if state is None:
        click.echo("stack is down")
        sys.exit(1)
    for entry in state["processes"]:
        click.echo(
            f"{entry['name']:<24} {'running' if _alive(entry) else 'STOPPED':<8} pid {entry['pid']:<7} {entry['log']}"
        )
    for key, value in state["env"].items():
        if not any(word in key for word in ("TOKEN", "SECRET", "CONNECTION_STRING")):
            click.echo(f"{key}={value}")
    sys.exit(0 if all(_alive(p) for p in state["processes"]) else 1)


if __name__ == "__main__":
    main()
