"""Demo: a release changed behind hub_ops's back, and the checks that catch it.

The change is what an operator would type: `helm upgrade <release> charts/basehub
--reuse-values --set ...`, through the Helm SDK and not through hub_ops, so the release gets
a revision hub_ops never recorded.
"""

from __future__ import annotations

from pathlib import Path

CHECK_RESOURCES = ("fleet", "git", "sops", "kube")


def upgrade_by_hand(fleet_root: Path, hub_id: str, kubeconfig: Path, set_values: dict) -> int:
    """`helm upgrade --reuse-values` of the hub's release with `set_values`; the new revision."""
    import helm_python

    from hub_ops.deploy.releases import hub_release
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(fleet_root, check_files=False)
    release = hub_release(fleet, fleet.hub(hub_id))
    chart = fleet.root / fleet.settings.charts_dir / release.chart
    with helm_python.Config(kubeconfig_path=str(kubeconfig), namespace=release.namespace) as helm:
        upgraded = helm.upgrade(
            str(chart), release.name, set_values, reuse_values=True, description="by hand, outside hub_ops"
        )
    return int(upgraded["revision"])


def release_checks(instance, resources: dict):
    """Run release_checks_job (hub_releases_in_sync, no_orphaned_releases) on `instance` with
    the demo's resources; the hub_releases_in_sync evaluation (recorded, so fleet_status reads it)."""
    import dagster as dg

    from hub_ops.defs.decommission.checks import no_orphaned_releases
    from hub_ops.defs.deploy.assets import hub_releases
    from hub_ops.defs.deploy.checks import hub_releases_in_sync
    from hub_ops.defs.deploy.jobs import release_checks_job

    defs = dg.Definitions(
        assets=[hub_releases],
        asset_checks=[hub_releases_in_sync, no_orphaned_releases],
        jobs=[release_checks_job],
        resources={k: resources[k] for k in CHECK_RESOURCES},
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.resolve_job_def("release_checks_job").execute_in_process(
        instance=instance, run_config=quiet, raise_on_error=False
    )
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "hub_releases_in_sync"]
    return evaluation
