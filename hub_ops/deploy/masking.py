"""Secrets out of rendered manifests before anyone sees them: `<secret: sha256 prefix>`.

A reviewer must see *that* a secret changed, never *what* it is. Two rules, applied to
parsed objects (never to text, so YAML quoting cannot hide a value from them):
- every value of a Secret's `data` (base64-decoded first) and `stringData` is replaced by
  the digest of its plaintext, whatever its origin;
- every string value that came from a sops file is replaced wherever it appears in any
  other object, also inside longer strings, JSON-escaped (a config rendered with toJson) or
  base64-encoded (alone, or a whole base64 blob whose decoded text contains it).
The digest is of the plaintext, so the same secret shows the same digest in a Secret and
in a ConfigMap, at base and at head, and a rotated one shows a new digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

MIN_SECRET_LENGTH = 4  # shorter sops values (a "true", a port) would mask half a manifest
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def secret_digest(value: str | bytes) -> str:
    """The placeholder shown instead of `value`: a prefix of its sha256."""
    data = value.encode() if isinstance(value, str) else value
    return f"<secret: {hashlib.sha256(data).hexdigest()[:12]}>"


def secret_strings(doc: Any) -> set[str]:
    """Every string of a decrypted sops document long enough to mask."""
    if isinstance(doc, dict):
        return {s for v in doc.values() for s in secret_strings(v)}
    if isinstance(doc, list):
        return {s for v in doc for s in secret_strings(v)}
    return {doc} if isinstance(doc, str) and len(doc) >= MIN_SECRET_LENGTH else set()


class Masker:
    """Masks a fixed set of secret values (and every Secret object's data) in objects."""

    def __init__(self, secrets: Iterable[str] = ()):
        forms: dict[str, str] = {}
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            shown = secret_digest(secret)
            raw = secret.encode()
            for form in (
                secret,
                json.dumps(secret)[1:-1],  # as toJson writes it inside a string
                base64.b64encode(raw).decode(),
                base64.b64encode(raw).decode().rstrip("="),
                base64.urlsafe_b64encode(raw).decode().rstrip("="),
            ):
                if len(form) >= MIN_SECRET_LENGTH:
                    forms.setdefault(form, shown)
        self._forms = forms
        # longest first: a secret that contains another is replaced whole
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def text(self, value: str) -> str:
        """`value` with every form of every secret replaced by its digest."""
        if self._pattern is None:
            return value
        masked = self._pattern.sub(lambda m: self._forms[m.group(0)], value)
        if masked == value:
            decoded = _decoded_base64(value)
            if decoded is not None and self._pattern.search(decoded):
                return secret_digest(decoded)  # a base64 blob carrying a secret: hide the whole blob
        return masked

    def docs(self, docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Masked copies of `docs` (the originals are left as they are)."""
        return [self.doc(d) for d in docs]

    def doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = self._walk(doc)
        if doc.get("kind") == "Secret" and doc.get("apiVersion", "v1") == "v1":
            for field, decode in (("data", True), ("stringData", False)):
                values = doc.get(field)
                if isinstance(values, dict):
                    out[field] = {self.text(str(k)): _digest_of(v, decode) for k, v in values.items()}
        return out

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walk(k) if isinstance(k, str) else k: self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return value


def _digest_of(value: Any, base64_encoded: bool) -> str:
    if value is None:
        return secret_digest(b"")
    text = str(value)
    if base64_encoded:
        try:
            return secret_digest(base64.b64decode(text, validate=False))
        except (binascii.Error, ValueError):
            pass  # not base64 after all: still never shown
    return secret_digest(text)


def _decoded_base64(value: str) -> str | None:
    compact = value.strip()
    if not _BASE64_BLOB.fullmatch(compact):
        return None
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(compact + "=" * (-len(compact) % 4)).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
    return None
