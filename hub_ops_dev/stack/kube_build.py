"""kube-apiserver and kube-controller-manager, built once from Debian's `kubernetes` source.

Debian bookworm packages only kubectl as a binary, but ships the whole Kubernetes 1.20.2
tree (vendored Go modules included) as a source package. We fetch it with a private apt
configuration (the system's sources.list is never touched), build the two binaries with
Debian's Go, and cache them by version under ~/.cache/hub_ops/k8s-<version>/bin/.

`ensure_kube_binaries()` is idempotent and safe to call from several processes at once: a
file lock lets one caller build while the others wait and then reuse its result.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub_ops_dev.stack.process import StackError, log_tail

K8S_VERSION = "1.20.2"
BINARIES = ("kube-apiserver", "kube-controller-manager")
# what the build itself needs from apt (prepare installs them; the build checks)
BUILD_COMMANDS = {"go": "golang-go", "rsync": "rsync", "jq": "jq", "dpkg-source": "dpkg-dev"}
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEBIAN_SUITE = "bookworm"


class KubeBuildError(StackError):
    """Fetching or building Kubernetes failed; the message names the step and the log."""


def cache_root() -> Path:
    """~/.cache/hub_ops (or $HUB_OPS_CACHE): outside the repo, shared by worktrees."""
    if os.environ.get("HUB_OPS_CACHE"):
        return Path(os.environ["HUB_OPS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hub_ops"


@dataclass(frozen=True)
class KubeBinaries:
    version: str
    bin_dir: Path

    @property
    def apiserver(self) -> Path:
        return self.bin_dir / "kube-apiserver"

    @property
    def controller_manager(self) -> Path:
        return self.bin_dir / "kube-controller-manager"

    def present(self) -> bool:
        return all(os.access(self.bin_dir / name, os.X_OK) for name in BINARIES)


def kube_binaries(version: str = K8S_VERSION) -> KubeBinaries:
    """Where the binaries of `version` live (built or not)."""
    return KubeBinaries(version, cache_root() / f"k8s-{version}" / "bin")


@contextmanager
def _build_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"kube build: another process is building (lock {path}); waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_kube_binaries(version: str = K8S_VERSION, log: Callable[[str], None] = print) -> KubeBinaries:
    """Return the cached binaries of `version`, building them first if missing.

    Idempotent: a present cache returns at once. Never changes the system apt configuration
    and never installs packages (see `hub_ops_dev.stack.prepare`); raises KubeBuildError
    naming the failed step and its log when fetching or building fails.
    """
    bins = kube_binaries(version)
    if bins.present():
        return bins
    version_dir = bins.bin_dir.parent
    with _build_lock(version_dir / ".build.lock", log):
        if bins.present():  # another process built it while we waited
            return bins
        _build(bins, version_dir, log)
    return bins


def _check_build_tools() -> None:
    missing = sorted({pkg for cmd, pkg in BUILD_COMMANDS.items() if shutil.which(cmd) is None})
    if missing:
        raise KubeBuildError(
            f"building kube-apiserver needs the apt packages {', '.join(missing)}: "
            f"run `python -m hub_ops_dev.stack prepare` (or apt-get install {' '.join(missing)})"
        )


def _debian_mirror() -> str:
    """The main Debian mirror URI of this machine, from its deb822 sources file."""
    try:
        text = DEBIAN_SOURCES.read_text()
    except OSError as exc:
        raise KubeBuildError(f"cannot read {DEBIAN_SOURCES} to find the Debian mirror: {exc}") from exc
    for line in text.splitlines():
        if line.startswith("URIs:"):
            for uri in line.split()[1:]:
                if "security" not in uri:
                    return uri
    raise KubeBuildError(f"{DEBIAN_SOURCES}: no `URIs:` line with a Debian mirror")


def upstream_version(dsc: Path) -> str:
    """The upstream version in a .dsc: `1.20.5+really1.20.2-1.1+deb12u1` -> `1.20.2`."""
    for line in dsc.read_text(errors="replace").splitlines():
        if line.startswith("Version:"):
            upstream = line.split(":", 1)[1].strip().rsplit("-", 1)[0]
            return upstream.split("really")[-1]
    raise KubeBuildError(f"{dsc}: no Version: field")


def _run(step: str, argv: list[str], log_file: Path, cwd: Path | None = None, env: dict | None = None) -> None:
    with open(log_file, "ab") as fh:
        fh.write(f"\n$ {' '.join(argv)}\n".encode())
        fh.flush()
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    if proc.returncode:
        raise KubeBuildError(f"{step} failed (exit {proc.returncode}); log {log_file}:\n{log_tail(log_file)}")


def _build(bins: KubeBinaries, version_dir: Path, log: Callable[[str], None]) -> None:
    _check_build_tools()
    work = version_dir / "work"
    shutil.rmtree(work, ignore_errors=True)  # a half-done earlier attempt
    apt_dir = work / "apt"
    (apt_dir / "lists" / "partial").mkdir(parents=True)
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True)
    build_log = version_dir / "build.log"
    build_log.write_text(f"building Kubernetes {bins.version} from Debian's source package\n")
    started = time.monotonic()

    sources_list = apt_dir / "sources.list"
    sources_list.write_text(f"deb-src {_debian_mirror()} {DEBIAN_SUITE} main\n")
    apt_opts = [
        "-o",
        "APT::Sandbox::User=root",  # _apt cannot write into our private dirs
        "-o",
        f"Dir::Etc::SourceList={sources_list}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o",
        f"Dir::Cache={apt_dir / 'cache'}",
    ]
    log(f"kube build: fetching the kubernetes {bins.version} source package (log {build_log})")
    _run("apt-get update (deb-src index)", ["apt-get", *apt_opts, "update"], build_log)
    download = work / "download"
    download.mkdir()
    _run(
        "apt-get source kubernetes",
        ["apt-get", *apt_opts, "source", "--download-only", "kubernetes"],
        build_log,
        cwd=download,
    )
    dscs = sorted(download.glob("kubernetes_*.dsc"))
    if not dscs:
        raise KubeBuildError(f"apt-get source downloaded no kubernetes_*.dsc into {download}; log {build_log}")
    offered = upstream_version(dscs[-1])
    if offered != bins.version:
        raise KubeBuildError(
            f"{dscs[-1].name}: Debian's {DEBIAN_SUITE} offers Kubernetes {offered}, not {bins.version}"
        )
    src = work / "src"
    _run("dpkg-source -x", ["dpkg-source", "-x", str(dscs[-1]), str(src)], build_log)

    log(f"kube build: compiling {' '.join(BINARIES)} (about 4 min, 1.4 GB RAM)")
    # `make` (not `go build`) because it generates the OpenAPI code first
    _run(
        "make kube-apiserver kube-controller-manager",
        ["make", f"WHAT={' '.join('cmd/' + b for b in BINARIES)}", "GOLDFLAGS=-s -w"],
        build_log,
        cwd=src,
        env={"CGO_ENABLED": "0"},
    )

    staging = version_dir / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in BINARIES:
        built = next(iter(sorted((src / "_output").rglob(name))), None)
        if built is None or not built.is_file():
            raise KubeBuildError(f"make finished but {name} is not under {src / '_output'}; log {build_log}")
        shutil.copy2(built, staging / name)
    # the cache appears whole or not at all
    shutil.rmtree(bins.bin_dir, ignore_errors=True)
    staging.rename(bins.bin_dir)
    shutil.rmtree(work, ignore_errors=True)
    log(f"kube build: done in {time.monotonic() - started:.0f} s -> {bins.bin_dir}")
