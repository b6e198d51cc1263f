"""`backups.workers: auto` and whole-hub restores by several Kubernetes Jobs, against the
local kube-apiserver, the Jobs' pods run by the stand-in kubelet (process_kubelet.py) as
`hub-ops` processes with the claim's local folder mounted (as in test_part_jobs.py).

- auto: the first night has no snapshot (one Job); the next takes as many part Jobs as the
  homes' bytes (walked here) divided by the fleet's `worker_budget.bytes` call for.
- restore: every user's folder lost, restore_homes_job (all users) runs one Job per share,
  each restoring only its folders, and the homes come back as they were (read_tree); a
  killed restore Job fails the restore naming it, and the rerun finishes it.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
import yaml
from kubernetes import client

from hub_ops.backup.errors import BackupError
from hub_ops.backup.repository import Repository
from hub_ops.clients.storage import Storage
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.shared.home_pods import HOME_MOUNT
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    KubeResource,
    SopsResource,
    StorageResource,
)
from hub_ops_dev.stack.pod_runtime import LocalImage
from hub_ops_dev.stack.process_kubelet import ProcessKubelet
from hub_ops_tests.backup.trees import diff_trees, read_tree
from hub_ops_tests.defs.backups.conftest import add_pvc_hub, create_home_pvc
from hub_ops_tests.defs.domain import definitions_with

HUB = "kube-test.homes"
USERS = ("ada", "bob", "cy", "dee", "eve", "fay", "gus")


def _make_homes(homes: Path) -> None:
    for i, user in enumerate(USERS):
        (homes / user / "data").mkdir(parents=True)
        (homes / user / "data" / "results.bin").write_bytes(os.urandom(150_000 + 40_000 * i))
        (homes / user / "notes.md").write_text(f"{user}'s notes\n" * (20 + 10 * i))
        os.chmod(homes / user, 0o700)


def _file_bytes(root: Path) -> int:
    """Bytes of every regular file below `root` (the expectation's input, walked here)."""
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _dirs, files in os.walk(root) for f in files)


def _stack(tmp_path, example_fleet, kube_cluster, kube_api, kube_namespace, workers, budget=None):
    dest = tmp_path / "backups"
    add_pvc_hub(example_fleet, kube_cluster.kubeconfig, kube_namespace, f"file://{dest}", backups={"workers": workers})
    if budget is not None:
        fleet_yaml = example_fleet / "fleet.yaml"
        settings = yaml.safe_load(fleet_yaml.read_text())
        settings["backups"]["worker_budget"] = budget
        fleet_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    create_home_pvc(kube_api, kube_namespace)
    volume = tmp_path / "volume"  # what the PVC holds; the hub's homes are its `homes` folder
    _make_homes(volume / "homes")
    kubelet = ProcessKubelet(
        kube_api,
        lambda ns: ns == kube_namespace,
        tmp_path / "kubelet",
        {"hub-ops": LocalImage(path=(str(Path(sys.executable).parent),))},  # `hub-ops` of this venv
        claims={"home-nfs": volume},
    )
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": StorageResource(local_root=str(tmp_path / "data")),
        "backup_runner": BackupRunnerResource(
            image="hub-ops:test", pod_env={"HUB_OPS_ENV": "local"}, kube=KubeResource(sops=SopsResource())
        ),
    }
    return volume / "homes", Repository.open(f"file://{dest}", Storage()), resources, kubelet


def _backup(resources, night: str) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [HUB])
        return dg.materialize(
            [user_home_backups],
            instance=instance,
            resources=resources,
            raise_on_error=False,
            partition_key=str(backup_partition_key(night, HUB)),
        )


def _jobs(kube_api, namespace: str, prefix: str) -> list[client.V1Job]:
    items = client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
    return sorted((j for j in items if j.metadata.name.startswith(prefix)), key=lambda j: j.metadata.name)


def _meta(result) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node("user_home_backups")[0].metadata.items()}


def test_auto_takes_one_worker_without_a_snapshot_then_as_many_as_the_bytes_budget_calls_for(
    example_fleet, tmp_path, kube_cluster, kube_api, kube_namespace
):
    volume_homes = tmp_path / "volume" / "homes"
    _make_homes(tmp_path / "measure")  # same shape as the homes: only its size is used, to set the budget
    total = _file_bytes(tmp_path / "measure")
    per_worker = total // 3 + 1  # a third of the homes, rounded up: 3 workers
    expected = math.ceil(_file_bytes(tmp_path / "measure") / per_worker)
    assert expected == 3
    budget = {"bytes": per_worker, "files": 10**9, "seconds": 10**9, "max_workers": 16}
    homes, repo, resources, kubelet = _stack(
        tmp_path, example_fleet, kube_cluster, kube_api, kube_namespace, "auto", budget
    )
    assert homes == volume_homes
    with kubelet:
        first = _backup(resources, "2026-11-01")
        assert first.success, kubelet.logs(kube_namespace)
        meta = _meta(first)
        assert meta["workers"] == 1 and "no snapshot yet" in meta["workers_because"]
        assert [j.metadata.name.rsplit("-", 1)[0] for j in _jobs(kube_api, kube_namespace, "hub-ops-")] == [
            "hub-ops-backup-homes"
        ]
        assert _file_bytes(homes) == total  # random contents, the same sizes

        second = _backup(resources, "2026-11-02")
        assert second.success, kubelet.logs(kube_namespace)
    meta = _meta(second)
    assert meta["workers"] == expected
    first_id = _meta(first)["snapshot_id"]  # forgotten by now (one a day is kept): its summary was read first
    second_id = meta["snapshot_id"]
    assert f"snapshot {first_id} has {total} bytes" in meta["workers_because"]
    assert f"-> {expected} (by bytes)" in meta["workers_because"]
    parts = _jobs(kube_api, kube_namespace, "hub-ops-backup-part")
    assert sorted(j.metadata.name.split("-part")[1].split("-")[0] for j in parts) == [str(i) for i in range(expected)]
    assert len(_jobs(kube_api, kube_namespace, "hub-ops-plan-")) == 1
    assert repo.summary(HUB, second_id).workers == expected


@pytest.fixture
def backed_up_in_three(example_fleet, tmp_path, kube_cluster, kube_api, kube_namespace):
    """The PVC hub with `workers: 3`, backed up once (by its Jobs), the kubelet running."""
    homes, repo, resources, kubelet = _stack(tmp_path, example_fleet, kube_cluster, kube_api, kube_namespace, 3)
    with kubelet:
        result = _backup(resources, "2026-11-01")
        assert result.success, kubelet.logs(kube_namespace)
        yield homes, repo, resources, kubelet


def _lose_every_home(homes: Path) -> dict:
    before = read_tree(homes)
    for user in USERS:
        shutil.rmtree(homes / user)
    return before


def _restore_job(resources, config: dict) -> dg.ExecuteInProcessResult:
    job = definitions_with(resources).resolve_job_def("restore_homes_job")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [HUB])
        return job.execute_in_process(
            run_config={"ops": {"restore_homes": {"config": config}}},
            instance=instance,
            partition_key=HUB,
            raise_on_error=False,
        )


def _shares_of_jobs(jobs: list[client.V1Job]) -> list[tuple[str, str]]:
    out = []
    for job in jobs:
        [container] = job.spec.template.spec.containers
        [mount] = container.volume_mounts
        assert (mount.mount_path, mount.sub_path, bool(mount.read_only)) == (HOME_MOUNT, "homes", False)  # writes
        cmd = container.command
        assert "--user" not in cmd
        out.append((cmd[cmd.index("--part") + 1], cmd[cmd.index("--parts") + 1]))
    return out


def test_a_whole_hub_restore_runs_one_job_per_share_and_brings_every_home_back(
    backed_up_in_three, kube_api, kube_namespace
):
    homes, repo, resources, kubelet = backed_up_in_three
    before = _lose_every_home(homes)
    assert read_tree(homes) == {}
    result = _restore_job(resources, {"all_users": True, "all_users_reason": "test: the volume was wiped"})
    assert result.success, kubelet.logs(kube_namespace)
    assert diff_trees(before, read_tree(homes)) == []
    jobs = _jobs(kube_api, kube_namespace, "hub-ops-restore-part")
    assert sorted(_shares_of_jobs(jobs)) == [("0", "3"), ("1", "3"), ("2", "3")]
    # each Job restored only its folders: its log names its share's count, and together all 7
    logs = kubelet.logs(kube_namespace)
    counts = [
        int(line.split(": ")[-1].split()[0]) for line in logs.splitlines() if "share " in line and "folder(s)" in line
    ]
    assert len(counts) == 3 and sum(counts) == len(USERS) and all(0 < c < len(USERS) for c in counts)


def _kill_when_it_runs(kubelet: ProcessKubelet, namespace: str, prefix: str, killed: dict) -> None:
    stop = threading.Event()
    killed["stop"] = stop
    while not stop.wait(0.02):
        local = kubelet.pod(namespace, prefix)
        proc = local and local.containers[0].proc
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed["pid"] = proc.pid
            return


def test_a_killed_restore_job_fails_the_restore_naming_it_and_the_rerun_finishes(
    backed_up_in_three, kube_api, kube_namespace
):
    homes, repo, resources, kubelet = backed_up_in_three
    before = _lose_every_home(homes)
    killed: dict = {}
    killer = threading.Thread(
        target=_kill_when_it_runs, args=(kubelet, kube_namespace, "hub-ops-restore-part2-", killed)
    )
    killer.start()
    fleet = resources["fleet"].load()
    hub = fleet.hub(HUB)
    [snapshot] = repo.snapshot_ids(HUB)
    runner = resources["backup_runner"]
    with pytest.raises(BackupError) as failure:
        runner.restore(
            dg.build_op_context(), fleet, hub, snapshot, resources["storage"].client(), into_hub=hub, holder="test"
        )
    killed["stop"].set()
    killer.join(timeout=10)
    assert "pid" in killed, "the restore Job of part 2 never ran"
    message = str(failure.value)
    assert "1 of 3 restore workers" in message and "part 2 (job hub-ops-restore-part2-homes-" in message
    assert "Failed" in message  # the pod's state
    assert diff_trees(before, read_tree(homes)) != []  # part 2's folders are missing

    result = _restore_job(resources, {"all_users": True, "all_users_reason": "test: finish the restore"})
    assert result.success, kubelet.logs(kube_namespace)
    assert diff_trees(before, read_tree(homes)) == []
