"""Loading and validating fleets: the real ones load clean, and every way of breaking one is
reported with its exact `file:line key.path: message`.

Each malformed case copies the example fleet (deployments/) or the vendored 2i2c fleet to a
temporary folder and breaks one thing in it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub_ops.fleet import ConfigProblem, FleetConfigError, load_fleet, validate_fleet
from hub_ops_tests.conftest import EXAMPLE_FLEET, TWO_I_TWO_C
from hub_ops_tests.fleet_helpers import replace, write

P = "clusters/pangeo-hubs/cluster.yaml"
C = "clusters/community-hubs/cluster.yaml"
L = "clusters/local-demo/cluster.yaml"
LEAP = "config/clusters/leap/cluster.yaml"
UT = "config/clusters/utoronto/cluster.yaml"
AWS = "config/clusters/2i2c-aws-us/cluster.yaml"


@dataclass
class R:
    rel: str
    old: str
    new: str

    def apply(self, root: Path) -> None:
        replace(root, self.rel, self.old, self.new)


@dataclass
class W:
    rel: str
    text: str

    def apply(self, root: Path) -> None:
        write(root, self.rel, self.text)


@dataclass
class Rm:
    rel: str

    def apply(self, root: Path) -> None:
        (root / self.rel).unlink()


@dataclass
class Mkdir:
    rel: str

    def apply(self, root: Path) -> None:
        (root / self.rel).mkdir()


@dataclass
class Bytes:
    rel: str
    data: bytes

    def apply(self, root: Path) -> None:
        (root / self.rel).write_bytes(self.data)


@dataclass
class Case:
    id: str
    base: str  # "example" | "2i2c"
    edits: list = field(default_factory=list)
    # "file:{text} ..." stands for the line of the edited file where `text` first occurs, so
    # a key added to the example files above the error does not move the expectation
    expected: list[str] = field(default_factory=list)


CASES = [
    Case(
        "unknown-key-cluster",
        "example",
        [R(P, "node_pools:", "nodepools:")],
        ["clusters/pangeo-hubs/cluster.yaml:15 nodepools: unknown key"],
    ),
    Case(
        "unknown-key-hub",
        "example",
        [
            R(
                C,
                "  helm_chart_values_files:\n  - common.values.yaml\n  - ohw.values.yaml",
                "  helm_charts_values_files:\n  - common.values.yaml\n  - ohw.values.yaml",
            )
        ],
        ["clusters/community-hubs/cluster.yaml:28 hubs[1].helm_charts_values_files: unknown key"],
    ),
    Case(
        "unknown-key-provider",
        "example",
        [R(P, "  zone: us-central1-b\n", "  zone: us-central1-b\n  region: us-central1\n")],
        ["clusters/pangeo-hubs/cluster.yaml:9 gcp.region: unknown key"],
    ),
    Case(
        "unknown-key-billing-bigquery",
        "example",
        [R(P, "      dataset: cloud_costs\n", "      dataset: cloud_costs\n      datasets: x\n")],
        ["clusters/pangeo-hubs/cluster.yaml:14 gcp.billing.bigquery.datasets: unknown key"],
    ),
    Case(
        "unknown-key-support",
        "example",
        [R(L, "support:\n  helm_chart_values_files:", "support:\n  chart: support\n  helm_chart_values_files:")],
        ["clusters/local-demo/cluster.yaml:8 support.chart: unknown key"],
    ),
    Case(
        "unknown-key-decommission",
        "example",
        [R(P, "    notice_days: 14\n", "    notice_day: 14\n")],
        ["clusters/pangeo-hubs/cluster.yaml:52 hubs[2].decommission.notice_day: unknown key"],
    ),
    Case(
        "unknown-key-home",
        "example",
        [R(C, "home: {pvc: home-nfs, sub_path: uni}", "home: {pvc: home-nfs, subpath: uni}")],
        ["clusters/community-hubs/cluster.yaml:51 hubs[3].home.subpath: unknown key"],
    ),
    Case(
        "unknown-key-retain",
        "example",
        [R(P, "retain: {daily: 7, weekly: 4, monthly: 12}", "retain: {daily: 7, weekly: 4, yearly: 1}")],
        ["clusters/pangeo-hubs/cluster.yaml:40 hubs[1].backups.retain.yearly: unknown key"],
    ),
    Case(
        "unknown-key-fleet-nested",
        "example",
        [R("fleet.yaml", "  destination: gs://example-fleet-backups", "  destinaton: gs://example-fleet-backups")],
        ["fleet.yaml:{destinaton:} backups.destinaton: unknown key"],
    ),
    Case(
        "unknown-key-2i2c-fifth-hub",
        "2i2c",
        [
            R(
                UT,
                "  domain: highmem.datatools.utoronto.ca\n",
                "  domain: highmem.datatools.utoronto.ca\n  helm_chart_value_files: []\n",
            )
        ],
        ["config/clusters/utoronto/cluster.yaml:67 hubs[4].helm_chart_value_files: unknown key"],
    ),
    Case(
        "missing-hub-domain",
        "example",
        [R(C, "  domain: ohw.community.example.org\n", "")],
        ["clusters/community-hubs/cluster.yaml:24 hubs[1].domain: required key missing"],
    ),
    Case(
        "missing-cluster-provider",
        "example",
        [R(L, "provider: local\n", "")],
        ["clusters/local-demo/cluster.yaml:3 provider: required key missing"],
    ),
    Case(
        "missing-gcp-project",
        "example",
        [R(P, "  project: pangeo-hubs\n", "")],
        ["clusters/pangeo-hubs/cluster.yaml:4 gcp.project: required key missing"],
    ),
    Case(
        "missing-decommission-on",
        "example",
        [R(P, "    on: 2026-12-14\n", "")],
        ["clusters/pangeo-hubs/cluster.yaml:49 hubs[2].decommission.on: required key missing"],
    ),
    Case(
        "folder-name-mismatch",
        "example",
        [R(L, "name: local-demo", "name: local")],
        ["clusters/local-demo/cluster.yaml:3 name: 'local' must equal the folder name 'local-demo'"],
    ),
    Case(
        "duplicate-hub-name",
        "example",
        [R(C, "- name: climatematch", "- name: ohw")],
        ["clusters/community-hubs/cluster.yaml:33 hubs[2].name: duplicate hub name 'ohw' (also hubs[1])"],
    ),
    Case(
        "duplicate-namespace",
        "example",
        [R(C, "  namespace: uni-teaching", "  namespace: ohw")],
        ["clusters/community-hubs/cluster.yaml:46 hubs[3].namespace: namespace 'ohw' already used by hubs[1]"],
    ),
    Case(
        "missing-values-file-2i2c",
        "2i2c",
        [R(LEAP, "  - public.values.yaml", "  - publik.values.yaml")],
        ["config/clusters/leap/cluster.yaml:44 hubs[2].helm_chart_values_files[0]: file not found: publik.values.yaml"],
    ),
    Case(
        "missing-support-values-file",
        "example",
        [Rm("clusters/local-demo/support.values.yaml")],
        ["clusters/local-demo/cluster.yaml:9 support.helm_chart_values_files[0]: file not found: support.values.yaml"],
    ),
    Case(
        "missing-values-file-subfolder",
        "example",
        [R(L, "  - workshop.values.yaml", "  - values/workshop.values.yaml")],
        [
            "clusters/local-demo/cluster.yaml:25 hubs[1].helm_chart_values_files[1]: file not found: values/workshop.values.yaml"
        ],
    ),
    Case(
        "invalid-yaml-values",
        "example",
        [W("clusters/local-demo/workshop.values.yaml", "jupyterhub:\n  hub:\n    config: {a: 1\n  singleuser: {}\n")],
        [
            "clusters/local-demo/workshop.values.yaml:4: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"
        ],
    ),
    Case(
        "invalid-yaml-cluster",
        "example",
        [R(L, "  domain: workshop.localhost\n", "  domain: workshop.localhost\n   helm_chart: basehub\n")],
        ["clusters/local-demo/cluster.yaml:22: invalid YAML: mapping values are not allowed in this context"],
    ),
    Case(
        "values-file-is-list",
        "example",
        [W("clusters/local-demo/workshop.values.yaml", "- jupyterhub\n- singleuser\n")],
        ["clusters/local-demo/workshop.values.yaml: helm values must be a mapping, got list"],
    ),
    Case(
        "secret-values-without-sops",
        "example",
        [
            W(
                "clusters/pangeo-hubs/enc-prod.secret.values.yaml",
                "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n        client_secret: not-encrypted\n",
            )
        ],
        [
            "clusters/pangeo-hubs/cluster.yaml:37 hubs[1].helm_chart_values_files[2]: enc-prod.secret.values.yaml is named as a secret but has no sops block: refusing a possibly leaked plaintext secret"
        ],
    ),
    Case(
        "secret-key-json-without-sops",
        "2i2c",
        [
            W(
                "config/clusters/2i2c-aws-us/enc-deployer-credentials.secret.json",
                '{"AccessKey": {"SecretAccessKey": "plain"}}\n',
            )
        ],
        [
            "config/clusters/2i2c-aws-us/cluster.yaml:10 aws.key: enc-deployer-credentials.secret.json is named as a secret but has no sops block: refusing a possibly leaked plaintext secret"
        ],
    ),
    Case(
        "unknown-chart",
        "example",
        [
            R(
                P,
                "  helm_chart: daskhub\n  helm_chart_values_files:\n  - daskhub-common.values.yaml\n  - prod.values.yaml",
                "  helm_chart: daskhubb\n  helm_chart_values_files:\n  - daskhub-common.values.yaml\n  - prod.values.yaml",
            )
        ],
        [
            "clusters/pangeo-hubs/cluster.yaml:33 hubs[1].helm_chart: unknown chart 'daskhubb' (charts: basehub, daskhub, support)"
        ],
    ),
    Case(
        "unknown-support-chart",
        "example",
        [R(L, "support:\n  helm_chart_values_files:", "support:\n  helm_chart: supporter\n  helm_chart_values_files:")],
        ["clusters/local-demo/cluster.yaml:8 support.helm_chart: unknown chart 'supporter'"],
    ),
    Case(
        "unknown-provider",
        "example",
        [R(L, "provider: local", "provider: digitalocean")],
        [
            "clusters/local-demo/cluster.yaml:4 provider: Input should be 'gcp', 'aws', 'azure', 'kubeconfig' or 'local' (got 'digitalocean')"
        ],
    ),
    Case(
        "provider-block-missing",
        "example",
        [R(L, "provider: local\nlocal:\n  kubeconfig: null\n", "provider: local\n")],
        ["clusters/local-demo/cluster.yaml:4 provider: provider is 'local' but the 'local' block is missing"],
    ),
    Case(
        "provider-block-mismatch",
        "example",
        [R(P, "provider: gcp", "provider: aws")],
        ["clusters/pangeo-hubs/cluster.yaml:2 provider: provider is 'aws' but the 'aws' block is missing"],
    ),
    Case(
        "provider-block-extra",
        "example",
        [
            R(
                L,
                "local:\n  kubeconfig: null\n",
                "local:\n  kubeconfig: null\nkubeconfig:\n  file: enc-kubeconfig.secret.yaml\n",
            )
        ],
        [
            "clusters/local-demo/cluster.yaml:7 kubeconfig: provider is 'local' but a 'kubeconfig' block is also given",
            "clusters/local-demo/cluster.yaml:8 kubeconfig.file: file not found: enc-kubeconfig.secret.yaml",
        ],
    ),
    Case(
        "aws-account-wrong-type",
        "2i2c",
        [R(AWS, "  account: 790657130469", "  account: [790657130469]")],
        ["config/clusters/2i2c-aws-us/cluster.yaml:9 aws.account: must be a string or an integer (got [790657130469])"],
    ),
    Case(
        "decommission-date-impossible",
        "example",
        [R(P, "on: 2026-12-14", "on: 2026-13-14")],
        [
            "clusters/pangeo-hubs/cluster.yaml:50 hubs[2].decommission.on: Input should be a valid date or datetime, month value is outside expected range of 1-12 (got '2026-13-14')"
        ],
    ),
    Case(
        "decommission-date-not-a-date",
        "example",
        [R(P, "on: 2026-12-14", "on: next spring")],
        [
            "clusters/pangeo-hubs/cluster.yaml:50 hubs[2].decommission.on: Input should be a valid date or datetime, invalid character in year (got 'next spring')"
        ],
    ),
    Case(
        "successor-unknown",
        "example",
        [R(P, "successor: prod", "successor: production")],
        ["clusters/pangeo-hubs/cluster.yaml:51 hubs[2].decommission.successor: no hub 'production' in this cluster"],
    ),
    Case(
        "successor-self",
        "example",
        [R(P, "successor: prod", "successor: legacy")],
        ["clusters/pangeo-hubs/cluster.yaml:51 hubs[2].decommission.successor: a hub cannot be its own successor"],
    ),
    Case(
        "successor-unknown-other-cluster",
        "example",
        [R(P, "successor: prod", "successor: community-hubs/pangeo")],
        [
            "clusters/pangeo-hubs/cluster.yaml:51 hubs[2].decommission.successor: no hub 'community-hubs/pangeo' in the fleet"
        ],
    ),
    Case(
        "hub-name-not-dns-label",
        "example",
        [R(C, "- name: ohw", "- name: OHW_2024")],
        [
            "clusters/community-hubs/cluster.yaml:24 hubs[1].name: 'OHW_2024' is not a valid name (lowercase letters, digits and '-', as a DNS label)"
        ],
    ),
    Case(
        "hub-name-too-long",
        "example",
        [R(C, "- name: ohw", "- name: " + "o" * 64)],
        [
            "clusters/community-hubs/cluster.yaml:24 hubs[1].name: 'oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo' is not a valid name (lowercase letters, digits and '-', as a DNS label)"
        ],
    ),
    Case(
        "namespace-not-dns-label",
        "example",
        [R(C, "namespace: uni-teaching", "namespace: uni.teaching")],
        [
            "clusters/community-hubs/cluster.yaml:46 hubs[3].namespace: 'uni.teaching' is not a valid name (lowercase letters, digits and '-', as a DNS label)"
        ],
    ),
    Case(
        "bad-tier",
        "example",
        [R(C, "  namespace: uni-teaching\n", "  namespace: uni-teaching\n  tier: canary\n")],
        ["clusters/community-hubs/cluster.yaml:47 hubs[3].tier: Input should be 'staging' or 'prod' (got 'canary')"],
    ),
    Case(
        "home-no-kind",
        "example",
        [R(C, "home: {pvc: home-nfs, sub_path: uni}", "home: {sub_path: uni}")],
        ["clusters/community-hubs/cluster.yaml:51 hubs[3].home: give exactly one of pvc, nfs, local_path (got none)"],
    ),
    Case(
        "home-two-kinds",
        "example",
        [R(C, "home: {pvc: home-nfs, sub_path: uni}", "home: {pvc: home-nfs, local_path: homes/uni}")],
        [
            "clusters/community-hubs/cluster.yaml:51 hubs[3].home: give exactly one of pvc, nfs, local_path (got ['pvc', 'local_path'])"
        ],
    ),
    Case(
        "retention-negative",
        "example",
        [R(P, "retain: {daily: 7,", "retain: {daily: -7,")],
        [
            "clusters/pangeo-hubs/cluster.yaml:40 hubs[1].backups.retain.daily: Input should be greater than or equal to 0"
        ],
    ),
    Case(
        "backup-workers-not-a-number",
        "example",
        [
            R(
                P,
                "retain: {daily: 7, weekly: 4, monthly: 12}\n",
                "retain: {daily: 7, weekly: 4, monthly: 12}\n    workers: lots\n",
            )
        ],
        [
            "clusters/pangeo-hubs/cluster.yaml:41 hubs[1].backups.workers: must be an integer of 1 or more, or auto (got 'lots')"
        ],
    ),
    Case(
        "backup-workers-zero",
        "example",
        [
            R(
                P,
                "retain: {daily: 7, weekly: 4, monthly: 12}\n",
                "retain: {daily: 7, weekly: 4, monthly: 12}\n    workers: 0\n",
            )
        ],
        [
            "clusters/pangeo-hubs/cluster.yaml:41 hubs[1].backups.workers: must be an integer of 1 or more, or auto (got 0)"
        ],
    ),
    Case(
        "backup-worker-budget-bad",
        "example",
        [R("fleet.yaml", "  compression: zstd\n", "  compression: zstd\n  worker_budget: {bytes: 0, file: 10}\n")],
        [
            "fleet.yaml:{worker_budget:} backups.worker_budget.bytes: Input should be greater than or equal to 1",
            "fleet.yaml:{worker_budget:} backups.worker_budget.file: unknown key",
        ],
    ),
    Case(
        "duplicate-key",
        "example",
        [
            R(
                C,
                "  domain: uni.community.example.org\n",
                "  domain: uni.community.example.org\n  domain: teaching.community.example.org\n",
            )
        ],
        [
            "clusters/community-hubs/cluster.yaml:45: invalid YAML: while constructing a mapping, found duplicate key 'domain'"
        ],
    ),
    Case(
        "cluster-yaml-empty",
        "example",
        [W(L, "# nothing yet\n")],
        ["clusters/local-demo/cluster.yaml: expected a mapping at the top of the file"],
    ),
    Case(
        "hub-not-a-mapping",
        "example",
        [R(L, "hubs:\n", "hubs:\n- workshop2\n")],
        ["clusters/local-demo/cluster.yaml:11 hubs[0]: expected a mapping (got 'workshop2')"],
    ),
    Case(
        "values-file-outside-cluster",
        "example",
        [R(L, "  - workshop.values.yaml", "  - ../pangeo-hubs/prod.values.yaml")],
        [
            "clusters/local-demo/cluster.yaml:25 hubs[1].helm_chart_values_files[1]: must be a file inside the cluster folder: ../pangeo-hubs/prod.values.yaml"
        ],
    ),
    Case(
        "values-file-is-folder",
        "example",
        [Mkdir("clusters/local-demo/extra"), R(L, "  - workshop.values.yaml", "  - extra")],
        ["clusters/local-demo/cluster.yaml:25 hubs[1].helm_chart_values_files[1]: is a folder, expected a file: extra"],
    ),
    Case(
        "values-file-bad-bytes",
        "example",
        [Bytes("clusters/local-demo/workshop.values.yaml", b"singleuser:\n  image: \xff\xfe\n")],
        [
            "clusters/local-demo/workshop.values.yaml: invalid YAML: cannot read character at byte 21 (invalid leading UTF-8 octet)"
        ],
    ),
    Case(
        "chart-override-missing",
        "2i2c",
        [Rm("config/clusters/2i2c-aws-us/chart.yaml")],
        ["config/clusters/2i2c-aws-us/cluster.yaml:28 hubs[0].chart_override: file not found: chart.yaml"],
    ),
    Case(
        "secret-json-invalid",
        "2i2c",
        [W("config/clusters/2i2c-aws-us/enc-deployer-credentials.secret.json", '{\n  "sops": {},\n}\n')],
        [
            "config/clusters/2i2c-aws-us/enc-deployer-credentials.secret.json:3: invalid JSON: Expecting property name enclosed in double quotes: line 3 column 1 (char 16)"
        ],
    ),
    Case(
        "fleet-unknown-key",
        "example",
        [R("fleet.yaml", "deploy_all_on:", "deploy_on_all:")],
        ["fleet.yaml:{deploy_on_all:} deploy_on_all: unknown key"],
    ),
    Case(
        "fleet-invalid-yaml",
        "example",
        [R("fleet.yaml", "  branch: main\n", "  branch: [main\n")],
        ["fleet.yaml:{deploy_all_on:}: invalid YAML: while parsing a flow sequence, did not find expected ',' or ']'"],
    ),
    Case(
        "fleet-not-a-mapping",
        "example",
        [W("fleet.yaml", "- clusters\n- charts\n")],
        ["fleet.yaml: expected a mapping at the top of the file"],
    ),
    Case(
        "fleet-clusters-dir-missing",
        "example",
        [R("fleet.yaml", "clusters_dir: clusters", "clusters_dir: cluster")],
        ["fleet.yaml:{clusters_dir:} clusters_dir: folder not found: cluster"],
    ),
    Case(
        "fleet-charts-dir-missing",
        "example",
        [R("fleet.yaml", "charts_dir: charts", "charts_dir: helm-charts")],
        ["fleet.yaml:{charts_dir:} charts_dir: folder not found: helm-charts"],
    ),
    Case(
        "fleet-dir-outside-root",
        "example",
        [R("fleet.yaml", "charts_dir: charts", "charts_dir: ../charts")],
        ["fleet.yaml:{charts_dir:} charts_dir: must be a folder inside the fleet root"],
    ),
    Case(
        "fleet-billing-two-sources",
        "example",
        [
            R(
                "fleet.yaml",
                "    files: gs://example-fleet-billing/export/\n",
                "    files: gs://example-fleet-billing/export/\n    bigquery: {project: p, dataset: d}\n",
            )
        ],
        # a single mapping is the list's first source
        ["fleet.yaml:{billing:} costs.billing[0]: give exactly one of bigquery, files"],
    ),
    Case(
        "fleet-billing-list",
        "example",
        [
            R(
                "fleet.yaml",
                "    files: gs://example-fleet-billing/export/\n",
                "    - files: gs://example-fleet-billing/export/\n    - files: s3://cur/x/\n      format: cur\n",
            )
        ],
        [
            "fleet.yaml:{format: cur} costs.billing[1].format: Input should be 'gcp', 'aws-cur', 'focus' or 'azure' (got 'cur')"
        ],
    ),
    Case(
        "fleet-bad-enum",
        "example",
        [R("fleet.yaml", "compression: zstd", "compression: gzip")],
        ["fleet.yaml:{compression:} backups.compression: Input should be 'zstd' or 'none' (got 'gzip')"],
    ),
    Case(
        "chart-dependency-missing",
        "example",
        [R("charts/daskhub/Chart.yaml", "file://../basehub", "file://../base-hub")],
        ["charts/daskhub/Chart.yaml:10 dependencies[0].repository: file:// dependency not found: base-hub"],
    ),
    Case(
        "chart-dependency-missing-2i2c",
        "2i2c",
        [R("helm-charts/daskhub/Chart.yaml", "file://../basehub", "file://../basehub2")],
        ["helm-charts/daskhub/Chart.yaml:9 dependencies[0].repository: file:// dependency not found: basehub2"],
    ),
    Case(
        "chart-dependency-after-remote",
        "example",
        [
            R(
                "charts/daskhub/Chart.yaml",
                "dependencies:\n",
                "dependencies:\n  - name: dask-gateway\n    version: 2024.1.0\n    repository: https://helm.dask.org/\n",
            ),
            R("charts/daskhub/Chart.yaml", "file://../basehub", "file://../basehubs"),
        ],
        ["charts/daskhub/Chart.yaml:13 dependencies[1].repository: file:// dependency not found: basehubs"],
    ),
    Case(
        "chart-dependencies-not-a-list",
        "example",
        [
            R(
                "charts/daskhub/Chart.yaml",
                '  - name: basehub\n    version: "0.1.0"\n    repository: file://../basehub',
                "  basehub: file://../basehub",
            )
        ],
        ["charts/daskhub/Chart.yaml:7 dependencies: expected a list, got dict"],
    ),
    Case(
        "chart-yaml-invalid",
        "example",
        [W("charts/support/Chart.yaml", 'apiVersion: v2\nname: support\nversion: "0.1.0\n')],
        ["charts/support/Chart.yaml:4: invalid YAML: while scanning a quoted scalar, found unexpected end of stream"],
    ),
]


def _copy(base: str, tmp_path: Path) -> Path:
    target = tmp_path / base
    shutil.copytree(EXAMPLE_FLEET if base == "example" else TWO_I_TWO_C, target)
    return target


def _messages(root: Path) -> list[str]:
    fleet, problems = validate_fleet(root)
    return [str(p) for p in problems]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_config_is_reported_exactly(case: Case, tmp_path: Path):
    root = _copy(case.base, tmp_path)
    for edit in case.edits:
        edit.apply(root)
    assert _messages(root) == [_with_line_numbers(root, message) for message in case.expected]


def _with_line_numbers(root: Path, message: str) -> str:
    marker = re.match(r"(?P<file>[^:\s]+):\{(?P<text>[^}]+)\}", message)
    if marker is None:
        return message
    lines = (root / marker["file"]).read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if marker["text"] in text)
    return f"{marker['file']}:{line}{message[marker.end() :]}"


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- the real fleets load clean


def test_2i2c_fixture_loads_every_cluster_and_hub(two_i_two_c_root: Path):
    fleet, problems = validate_fleet(two_i_two_c_root)
    assert problems == []
    assert fleet.layout == "2i2c"
    assert len(fleet.clusters) == 30
    assert sum(1 for _ in fleet.hubs()) == 171
    assert "templates" not in fleet.clusters  # 2i2c's cookiecutter templates are not a cluster
    assert list(fleet.clusters) == sorted(fleet.clusters)
    assert sorted(fleet.charts) == ["basehub", "daskhub", "support"]
    assert fleet.charts["daskhub"].local_dependencies == ("basehub",)
    assert len(fleet.clusters["cloudbank"].hubs) == 95


def test_example_fleet_loads(tmp_path: Path):
    fleet, problems = validate_fleet(EXAMPLE_FLEET)
    assert problems == []
    assert fleet.layout == "hub_ops"
    assert [h.id for h in fleet.hubs()] == [
        "community-hubs/staging",
        "community-hubs/ohw",
        "community-hubs/climatematch",
        "community-hubs/uni",
        "local-demo/staging",
        "local-demo/workshop",
        "pangeo-hubs/staging",
        "pangeo-hubs/prod",
        "pangeo-hubs/legacy",
    ]
    assert fleet.settings.backups.destination == "gs://example-fleet-backups"
    assert [b.files for b in fleet.settings.costs.billing] == ["gs://example-fleet-billing/export/"]


# ---------------------------------------------------------------- every problem, every hub


def test_problems_in_two_files_are_both_reported(example_fleet: Path):
    replace(example_fleet, P, "node_pools:", "nodepools:")
    write(example_fleet, "clusters/local-demo/workshop.values.yaml", "- not\n- a mapping\n")
    assert _messages(example_fleet) == [
        "clusters/local-demo/workshop.values.yaml: helm values must be a mapping, got list",
        "clusters/pangeo-hubs/cluster.yaml:15 nodepools: unknown key",
    ]


def test_schema_error_and_missing_file_in_one_cluster_are_both_reported(example_fleet: Path):
    """A cluster.yaml failing its schema still has its listed files checked, in one run."""
    replace(example_fleet, C, "- name: ohw", "- name: OHW")
    (example_fleet / "clusters/community-hubs/uni.values.yaml").unlink()
    assert _messages(example_fleet) == [
        "clusters/community-hubs/cluster.yaml:24 hubs[1].name: 'OHW' is not a valid name (lowercase letters, digits and '-', as a DNS label)",
        "clusters/community-hubs/cluster.yaml:49 hubs[3].helm_chart_values_files[1]: file not found: uni.values.yaml",
    ]


def test_every_hub_is_validated_not_only_the_first(two_i_two_c_copy: Path):
    """2i2c's own schema checks only hubs[0]; here the 5th and the 95th (last) hub count too."""
    cloudbank = "config/clusters/cloudbank/cluster.yaml"
    text = (two_i_two_c_copy / cloudbank).read_text()
    last_hub = text.rindex("- name: ")
    (two_i_two_c_copy / cloudbank).write_text(text[:last_hub] + text[last_hub:].replace("  domain:", "  domian:", 1))
    replace(two_i_two_c_copy, UT, "- name: highmem", "- name: HighMem")
    line = text[:last_hub].count("\n") + 1
    assert _messages(two_i_two_c_copy) == [
        f"config/clusters/cloudbank/cluster.yaml:{line} hubs[94].domain: required key missing",
        f"config/clusters/cloudbank/cluster.yaml:{line + 2} hubs[94].domian: unknown key",
        "config/clusters/utoronto/cluster.yaml:62 hubs[4].name: 'HighMem' is not a valid name (lowercase letters, digits and '-', as a DNS label)",
    ]


def test_load_fleet_raises_with_every_problem_sorted(example_fleet: Path):
    replace(example_fleet, P, "successor: prod", "successor: legacy")
    replace(example_fleet, C, "- name: climatematch", "- name: ohw")
    with pytest.raises(FleetConfigError) as info:
        load_fleet(example_fleet)
    assert [str(p) for p in info.value.problems] == [
        "clusters/community-hubs/cluster.yaml:33 hubs[2].name: duplicate hub name 'ohw' (also hubs[1])",
        "clusters/pangeo-hubs/cluster.yaml:51 hubs[2].decommission.successor: a hub cannot be its own successor",
    ]
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    assert info.value.problems[0] == ConfigProblem(
        "clusters/community-hubs/cluster.yaml", 33, "hubs[2].name", "duplicate hub name 'ohw' (also hubs[1])"
    )


def test_planning_load_skips_file_checks_but_not_the_schema(example_fleet: Path):
    (example_fleet / "clusters/local-demo/workshop.values.yaml").unlink()
    assert [h.name for h in load_fleet(example_fleet, check_files=False).clusters["local-demo"].hubs] == [
        "staging",
        "workshop",
    ]
    with pytest.raises(FleetConfigError, match="file not found: workshop.values.yaml"):
        load_fleet(example_fleet)
    replace(example_fleet, L, "  domain: workshop.localhost\n", "")
    with pytest.raises(FleetConfigError, match=r"hubs\[1\].domain: required key missing"):
        load_fleet(example_fleet, check_files=False)


def test_not_a_fleet(tmp_path: Path):
    with pytest.raises(FleetConfigError) as info:
        load_fleet(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a fleet: no fleet.yaml and no config/clusters/ folder"


def test_empty_fleet_yaml_means_the_defaults(example_fleet: Path):
    write(example_fleet, "fleet.yaml", "# all defaults\n")
    fleet = load_fleet(example_fleet)
    assert fleet.settings.clusters_dir == "clusters" and fleet.settings.backups.destination == "gs://hub-ops-backups"


def test_secret_values_never_appear_in_problems(example_fleet: Path):
    secret = "hunter2-plaintext-token"
    write(example_fleet, "clusters/pangeo-hubs/enc-prod.secret.values.yaml", f"hub:\n  token: {secret}\n")
    write(
        example_fleet,
        "clusters/pangeo-hubs/enc-staging.secret.values.yaml",
        f"hub:\n  token: {secret}\n  token: {secret}\n",
    )
    write(example_fleet, "clusters/pangeo-hubs/enc-deployer-credentials.secret.json", f'{{"key": "{secret}",}}')
    write(example_fleet, "clusters/pangeo-hubs/enc-support.secret.values.yaml", f"a: [{secret}\n")
    messages = _messages(example_fleet)
    assert len(messages) == 4
    assert not [m for m in messages if secret in m]


def test_validation_changes_nothing(example_fleet: Path):
    replace(example_fleet, P, "node_pools:", "nodepools:")
    before = {p: p.read_bytes() for p in example_fleet.rglob("*") if p.is_file()}
    assert _messages(example_fleet)
    assert {p: p.read_bytes() for p in example_fleet.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------- Fleet methods


def test_fleet_lookups():
    fleet = load_fleet(EXAMPLE_FLEET)
    hub = fleet.hub("pangeo-hubs/prod")
    assert fleet.hub("pangeo-hubs.prod") is hub
    assert (hub.id, hub.partition_key, hub.cluster) == ("pangeo-hubs/prod", "pangeo-hubs.prod", "pangeo-hubs")
    assert fleet.values_paths(hub) == [
        EXAMPLE_FLEET / "clusters/pangeo-hubs" / name
        for name in ("daskhub-common.values.yaml", "prod.values.yaml", "enc-prod.secret.values.yaml")
    ]
    assert fleet.support_values_paths(fleet.clusters["local-demo"]) == [
        EXAMPLE_FLEET / "clusters/local-demo/support.values.yaml"
    ]
    assert fleet.relpath(fleet.values_paths(hub)[0]) == "clusters/pangeo-hubs/daskhub-common.values.yaml"
    assert fleet.charts_using("basehub") == {"basehub", "daskhub"}
    assert fleet.charts_using("daskhub") == {"daskhub"}
    assert fleet.cluster_dir("local-demo") == EXAMPLE_FLEET / "clusters/local-demo"
    assert fleet.clusters["pangeo-hubs"].gcp.project == "pangeo-hubs"


def test_fleet_hub_unknown_names_candidates():
    fleet = load_fleet(EXAMPLE_FLEET)
    with pytest.raises(KeyError) as info:
        fleet.hub("pangeo-hubs/production")
    assert "no hub 'pangeo-hubs/production'" in str(info.value)
    assert "did you mean: pangeo-hubs/staging, pangeo-hubs/prod, pangeo-hubs/legacy" in str(info.value)
    with pytest.raises(KeyError):
        fleet.hub("prod")
