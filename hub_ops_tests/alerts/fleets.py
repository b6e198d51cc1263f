"""A copy of the example fleet with an `alerts:` block and its sops-encrypted secrets file,
encrypted to the example fleet's own age key (deployments/demo.agekey)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hub_ops.clients.sops import Sops
from hub_ops_tests.fleet_repos import AgeKey

SECRETS_FILE = "alerts.secret.yaml"
SLACK_TOKEN = "T0SLACK/B0HOOK/s3cr3tSlackPath9d2"  # the part of a Slack webhook URL that is the secret
HMAC_KEY = "hmac-key-5b1e0c77d2"


def demo_age_key(fleet_root: Path) -> AgeKey:
    path = fleet_root / "demo.agekey"
    public = next(line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if "public key" in line)
    return AgeKey(path, public)


def write_alerts(fleet_root: Path, alerts: dict, secrets: dict | None = None) -> None:
    """Set fleet.yaml's `alerts:` block; write `secrets` as the sops-encrypted alerts.secret.yaml."""
    fleet_yaml = fleet_root / "fleet.yaml"
    doc = yaml.safe_load(fleet_yaml.read_text())
    doc["alerts"] = alerts
    fleet_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    if secrets is not None:
        path = fleet_root / SECRETS_FILE
        path.write_text(yaml.safe_dump(secrets, sort_keys=False))
        demo_age_key(fleet_root).encrypt(path)


def sops(fleet_root: Path) -> Sops:
    return Sops(str(fleet_root / "demo.agekey"))


def fleet_secret(fleet_root: Path, rel: str, *keys: str) -> str:
    """A decrypted value of one of the fleet's sops files (what must never be shown)."""
    doc = sops(fleet_root).decrypt(fleet_root / rel)
    for key in keys:
        doc = doc[key]
    return doc
