"""EKS DescribeClusterVersions as the API answers it (GET /cluster-versions): a recorded
response SHAPE, not a live answer (moto has no such call). Field names and types follow the
EKS API reference (ClusterVersionInformation; timestamps as epoch seconds); the versions and
dates are those of the EKS Kubernetes version calendar in AWS's documentation."""

from __future__ import annotations

import datetime as dt


def _epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())


# version -> (release, end of standard support, end of extended support or None, versionStatus)
CALENDAR = {
    "1.20": ("2021-05-18", "2022-11-01", None, "UNSUPPORTED"),
    "1.30": ("2024-05-23", "2025-07-23", "2026-07-23", "EXTENDED_SUPPORT"),
    "1.31": ("2024-09-26", "2025-11-26", "2026-11-26", "EXTENDED_SUPPORT"),
    "1.32": ("2025-01-23", "2026-03-23", "2027-03-23", "STANDARD_SUPPORT"),
    "1.33": ("2025-05-29", "2026-07-29", "2027-07-29", "STANDARD_SUPPORT"),
}


def cluster_versions() -> dict:
    """The response body of DescribeClusterVersions(includeAll=True)."""
    versions = []
    for version, (release, standard, extended, status) in CALENDAR.items():
        entry = {
            "clusterVersion": version,
            "clusterType": "eks",
            "defaultPlatformVersion": "eks.20",
            "defaultVersion": version == "1.32",
            "releaseDate": _epoch(release),
            "endOfStandardSupportDate": _epoch(standard),
            "status": status.lower().replace("_", "-"),
            "versionStatus": status,
            "kubernetesPatchVersion": f"{version}.0",
        }
        if extended:
            entry["endOfExtendedSupportDate"] = _epoch(extended)
        versions.append(entry)
    return {"clusterVersions": versions}
