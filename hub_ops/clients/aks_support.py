"""Whether AKS still supports a cluster's Kubernetes version, from what AKS publishes.

AKS gives no end-of-support dates through its API (GKE and EKS do). What it publishes is the
list of minors it supports in a region, each with its support plans (kubernetesVersions:
KubernetesOfficial, AKSLongTermSupport). Its policy (learn.microsoft.com, "Supported
Kubernetes versions in AKS") is a window of three GA minors per plan: when the next minor
becomes generally available, the oldest leaves it. So, for the cluster's plan:
- its minor is not listed under that plan: support has ended;
- its minor is the oldest GA minor listed under that plan: support ends with the next
  minor's release (the warning a person plans an upgrade from);
- otherwise (or newer than every GA minor: a preview): supported, nothing to say.
"""

from __future__ import annotations

from hub_ops.fleet.observed import minor_of

DEFAULT_PLAN = "KubernetesOfficial"  # what AKS applies when a cluster names none


def enum_text(value) -> str | None:
    """An SDK enum's value (AgentPoolMode.SYSTEM -> "System"), or the string as it is."""
    return None if value is None else str(getattr(value, "value", value))


def support_warning(version: str | None, plan: str | None, location: str | None, versions) -> str | None:
    """The warning for a cluster on `version` under support plan `plan` (None: AKS's default),
    given `versions`, the KubernetesVersion models AKS lists for `location`; None when the
    version is supported and not the next to go, or when the version cannot be read."""
    minor = minor_of(version)
    if minor is None:
        return None
    plan = enum_text(plan) if plan else DEFAULT_PLAN
    name = f"{minor[0]}.{minor[1]}"
    where = f"AKS in {location}" if location else "AKS"
    by_minor = {minor_of(v.version): v for v in versions if minor_of(v.version)}
    under_plan = sorted(
        m
        for m, v in by_minor.items()
        if not v.is_preview and plan in {enum_text(p) for p in (v.capabilities and v.capabilities.support_plan) or []}
    )
    listed = ", ".join(f"{m[0]}.{m[1]}" for m in under_plan) or "none"
    if under_plan and minor > under_plan[-1]:
        return None  # newer than every GA minor: a preview version, not one leaving support
    if minor not in under_plan:
        other = by_minor.get(minor)
        plans = sorted({enum_text(p) for p in (other and other.capabilities and other.capabilities.support_plan) or []})
        elsewhere = f" (only under {', '.join(plans)})" if plans else ""
        return f"{name} reached end of {plan} support: {where} supports {listed} under it{elsewhere}"
    if minor == under_plan[0]:
        return (
            f"{name} is the oldest version {where} supports under {plan} ({listed}): "
            "its support ends when AKS makes the next minor version generally available"
        )
    return None
