"""Helm values: layered in the listed order, as `helm -f a -f b` merges them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from hub_ops.clients.sops import Sops, SopsError
from hub_ops.fleet.loader import is_secret_name
from hub_ops.fleet.yamlfiles import load_yaml


class ValuesError(ValueError):
    """A values file could not be read; names the file and the reason."""


def merge_values(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Later layers win; maps merge key by key; lists and scalars are replaced whole.

    A null keeps its key (helm then drops the chart default), as helm does with -f files.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer)
    return merged


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def values_digest(values: dict[str, Any]) -> str:
    """A stable digest of merged values: shows that values changed without showing them."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def load_values_files(
    paths: list[Path], sops: Sops, root: Path | None = None, secrets_out: set[str] | None = None
) -> dict[str, Any]:
    """Read and layer `paths` in order, decrypting secret files in memory.

    secrets_out: receives every string value of the secret files, so that callers can
    redact them from any message (helm errors may quote rendered lines).
    """
    layers = []
    for path in paths:
        shown = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        try:
            doc = sops.decrypt(path, shown) if is_secret_name(path.name) else load_yaml(path)
        except FileNotFoundError:
            raise ValuesError(f"{shown}: file not found") from None
        except SopsError as e:
            raise ValuesError(str(e)) from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{shown}:{mark.line + 1}" if mark is not None else shown
            raise ValuesError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
        if doc is None:
            continue
        if secrets_out is not None and is_secret_name(path.name):
            secrets_out.update(_strings(doc))
        if not isinstance(doc, dict):
            raise ValuesError(f"{shown}: helm values must be a mapping, got {type(doc).__name__}")
        layers.append(doc)
    return merge_values(layers)


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) and doc else []


# a secret shorter than this is replaced only where it stands as a whole word: "demo" is
# redacted in "password demo" but "local-demo" stays readable (the name is not the secret)
WHOLE_WORD_BELOW = 8
# a word: letters, digits, _ and -, and dots between them (host names, versions)
_NOT_AFTER_WORD = r"(?<![A-Za-z0-9_\-])(?<![A-Za-z0-9_]\.)"
_NOT_BEFORE_WORD = r"(?![A-Za-z0-9_\-])(?!\.[A-Za-z0-9_])"


def secret_forms(secrets: set[str]) -> set[str]:
    """Every form a secret takes in messages: as is, and base64 (Secret objects' data)."""
    forms = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode()).decode())
    return forms


def redact(text: str, secrets: set[str]) -> str:
    """`text` with every secret value (and its base64) replaced by ***; longest first so
    parts never leak. Short secrets are replaced where they stand as whole words."""
    for secret in sorted(secret_forms(secrets), key=len, reverse=True):
        if len(secret) >= WHOLE_WORD_BELOW:
            text = text.replace(secret, "***")
        else:
            text = re.sub(_NOT_AFTER_WORD + re.escape(secret) + _NOT_BEFORE_WORD, "***", text)
    return text
