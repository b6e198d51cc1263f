"""The fleet models on their own: what each key means and what each refuses."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from pydantic import ValidationError

from hub_ops.fleet.models import BillingSource, Cluster, Decommission, FleetSettings, Home, Hub
from hub_ops.fleet.yamlfiles import parse_yaml


def hub(**extra) -> dict:
    return {"name": "prod", "display_name": "Prod", "domain": "prod.example.org", "helm_chart": "basehub", **extra}


def cluster(**extra) -> dict:
    return {"name": "c1", "provider": "local", "local": {}, "hubs": [hub()], **extra}


@pytest.mark.parametrize(
    ("name", "tier", "expected"),
    [
        ("staging", None, "staging"),
        ("r-staging", None, "staging"),
        ("staging2", None, "staging"),
        ("prod", None, "prod"),
        ("canary", "staging", "staging"),
        ("staging", "prod", "prod"),
    ],
)
def test_effective_tier(name, tier, expected):
    assert Hub.model_validate(hub(name=name, tier=tier)).effective_tier == expected


def test_ids_and_namespace_come_from_the_cluster():
    c = Cluster.model_validate(cluster(hubs=[hub(), hub(name="uni", namespace="uni-teaching")]))
    prod, uni = c.hubs
    assert (prod.id, prod.partition_key, prod.cluster, prod.effective_namespace) == ("c1/prod", "c1.prod", "c1", "prod")
    assert uni.effective_namespace == "uni-teaching"
    assert c.hub("uni") is uni and c.hub("nope") is None


@pytest.mark.parametrize("name", ["a", "a1", "my-hub", "2i2c", "x" * 63])
def test_dns_label_names_are_accepted(name):
    assert Hub.model_validate(hub(name=name)).name == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "my_hub", "my.hub", "x" * 64, "héllo"])
def test_names_that_are_not_dns_labels_are_refused(name):
    with pytest.raises(ValidationError, match="string_pattern_mismatch|String should match pattern"):
        Hub.model_validate(hub(name=name))


def test_decommission_on_key_read_as_yaml_1_1_boolean():
    """PyYAML reads a bare `on:` as True; the model still finds the date."""
    doc = parse_yaml("on: 2026-12-14\nsuccessor: prod\n")
    assert True in doc
    d = Decommission.model_validate(doc)
    assert (d.on, d.successor, d.notice_days, d.keep_backups_days) == (dt.date(2026, 12, 14), "prod", 14, 90)


@pytest.mark.parametrize(
    ("home", "kind"),
    [
        ({"pvc": "home-nfs"}, "pvc"),
        ({"nfs": {"server": "10.0.0.2", "path": "/export"}, "sub_path": "x"}, "nfs"),
        ({"local_path": "homes/a"}, "local_path"),
    ],
)
def test_home_takes_exactly_one_kind(home, kind):
    h = Home.model_validate(home)
    assert [k for k in ("pvc", "nfs", "local_path") if getattr(h, k) is not None] == [kind]


@pytest.mark.parametrize("home", [{}, {"pvc": "a", "local_path": "b"}, {"sub_path": "x"}])
def test_home_refuses_zero_or_two_kinds(home):
    with pytest.raises(ValidationError, match="give exactly one of pvc, nfs, local_path"):
        Home.model_validate(home)


def test_provider_block_must_match_provider():
    with pytest.raises(ValidationError, match="provider is 'gcp' but the 'gcp' block is missing"):
        Cluster.model_validate(cluster(provider="gcp"))
    with pytest.raises(ValidationError, match="provider is 'local' but a 'aws' block is also given"):
        Cluster.model_validate(cluster(aws={"account": 1, "clusterName": "x", "region": "y"}))


def test_model_level_errors_name_their_key():
    """The loader reports these at the key's line, so the error carries the key."""
    with pytest.raises(ValidationError) as info:
        Cluster.model_validate(cluster(provider="gcp"))
    [error] = info.value.errors()
    assert error["ctx"]["error"].key == "provider"


@pytest.mark.parametrize("account", [790657130469, "790657130469"])
def test_aws_account_is_a_string_or_an_integer(account):
    c = Cluster.model_validate(
        cluster(provider="aws", local=None, aws={"account": account, "clusterName": "x", "region": "y"})
    )
    assert c.aws.account == account


def test_unknown_keys_are_refused_at_every_level():
    for doc in (
        cluster(extra=1),
        cluster(hubs=[hub(extra=1)]),
        cluster(hubs=[hub(home={"pvc": "a", "extra": 1})]),
        cluster(support={"extra": 1}),
    ):
        with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs are not permitted"):
            Cluster.model_validate(doc)
    with pytest.raises(ValidationError):
        FleetSettings.model_validate({"backups": {"retain": {"yearly": 1}}})


def test_fleet_settings_defaults_and_folder_rules():
    s = FleetSettings()
    assert (s.clusters_dir, s.charts_dir, s.git.branch, s.git.remote) == ("clusters", "charts", "main", ".")
    assert s.backups.retain.daily == 7 and s.kubernetes.max_minor_skew == 2
    assert FleetSettings(clusters_dir="config/clusters/").clusters_dir == "config/clusters"
    for bad in ("/etc", "../x", "a/../../b"):
        with pytest.raises(ValidationError, match="must be a folder inside the fleet root"):
            FleetSettings(charts_dir=bad)


def test_billing_source_is_one_of_bigquery_or_files():
    assert BillingSource(files="gs://b/x").files == "gs://b/x"
    assert BillingSource(bigquery={"project": "p", "dataset": "d"}).bigquery.project == "p"
    for bad in ({}, {"files": "gs://b", "bigquery": {"project": "p", "dataset": "d"}}):
        with pytest.raises(ValidationError, match="give exactly one of bigquery, files"):
            BillingSource.model_validate(bad)


def test_cluster_dump_round_trips_the_2i2c_shape(two_i_two_c_root):
    """What a cluster.yaml says is what the model dumps (the planner compares the two)."""
    path = two_i_two_c_root / "config/clusters/2i2c-aws-us/cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    c = Cluster.model_validate(doc)
    assert c.model_dump(mode="json", exclude_unset=True) == doc


def test_backups_workers_default_to_one_take_auto_and_refuse_zero():
    assert Hub.model_validate(hub(backups={})).backups.workers == 1
    assert Hub.model_validate(hub(backups={"workers": 4})).backups.workers == 4
    assert Hub.model_validate(hub(backups={"workers": "auto"})).backups.workers == "auto"
    with pytest.raises(
        ValidationError, match=r"backups\.workers\n.*must be an integer of 1 or more, or auto \(got 0\)"
    ):
        Hub.model_validate(hub(backups={"workers": 0}))
