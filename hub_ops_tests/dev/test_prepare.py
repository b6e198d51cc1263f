"""Machine preparation: the apt check, the version pin and the build's error messages."""

from __future__ import annotations

import time

import pytest

from hub_ops_dev.stack import kube_build
from hub_ops_dev.stack.kube_build import KubeBuildError, ensure_kube_binaries, upstream_version
from hub_ops_dev.stack.prepare import APT_PACKAGES, missing_apt_packages, prepare


def test_missing_apt_packages_reports_only_what_dpkg_lacks():
    assert missing_apt_packages(["dpkg", "no-such-package-hub-ops"]) == ["no-such-package-hub-ops"]


def test_prepare_is_quick_and_quiet_on_a_ready_machine():
    """make test runs this every time: on a prepared machine it must not call apt or build."""
    messages: list[str] = []
    begin = time.monotonic()
    bins = prepare(log=messages.append)
    assert time.monotonic() - begin < 2
    assert messages == []
    assert bins.present()
    assert missing_apt_packages() == []
    assert set(APT_PACKAGES) >= {"golang-go", "etcd-server", "rsync", "jq", "postgresql", "chromium", "restic", "age"}


def test_upstream_version_reads_debian_really_versions(tmp_path):
    dsc = tmp_path / "kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc"
    dsc.write_text("Format: 3.0 (quilt)\nSource: kubernetes\nVersion: 1.20.5+really1.20.2-1.1+deb12u1\n")
    assert upstream_version(dsc) == "1.20.2"
    dsc.write_text("Format: 3.0 (quilt)\nSource: kubernetes\nVersion: 1.25.0-1\n")
    assert upstream_version(dsc) == "1.25.0"


def test_build_without_go_names_the_missing_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(KubeBuildError, match=r"golang-go.*python -m hub_ops_dev.stack prepare"):
        ensure_kube_binaries()
    assert not kube_build.kube_binaries().present()


def test_cached_binaries_are_reused_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_CACHE", str(tmp_path / "cache"))
    bins = kube_build.kube_binaries()
    bins.bin_dir.mkdir(parents=True)
    for name in kube_build.BINARIES:
        (bins.bin_dir / name).write_text("#!/bin/sh\n")
        (bins.bin_dir / name).chmod(0o755)
    monkeypatch.setattr(kube_build, "_build", lambda *a: pytest.fail("built although the cache was complete"))
    assert ensure_kube_binaries() == bins


def test_a_second_caller_waits_for_the_build_in_progress(tmp_path, monkeypatch):
    """Two processes never build at once: the second blocks on the lock, then reuses the result."""
    import fcntl
    import threading

    monkeypatch.setenv("HUB_OPS_CACHE", str(tmp_path / "cache"))
    bins = kube_build.kube_binaries()
    lock = bins.bin_dir.parent / ".build.lock"
    lock.parent.mkdir(parents=True)
    monkeypatch.setattr(kube_build, "_build", lambda *a: pytest.fail("built although another build finished"))
    messages: list[str] = []
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # "another process" is building
        waiter = threading.Thread(target=lambda: messages.append(ensure_kube_binaries(log=messages.append)))
        waiter.start()
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "another process is building" in messages[0]
        bins.bin_dir.mkdir()
        for name in kube_build.BINARIES:
            (bins.bin_dir / name).write_text("#!/bin/sh\n")
            (bins.bin_dir / name).chmod(0o755)
    waiter.join(timeout=10)
    assert messages[-1] == bins
