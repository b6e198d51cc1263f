"""Every cluster of the real 2i2c fleet resolves to an access method (gcp, aws, kubeconfig):
none is "not supported". Here their keys, encrypted for 2i2c, cannot be decrypted, so each
says exactly which file it could not read, before any cloud API is asked."""

from __future__ import annotations

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.gke import cluster_access as gke_access
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.clients.sops import Sops
from hub_ops.fleet import load_fleet


def test_every_2i2c_cluster_names_the_key_file_it_needs(two_i_two_c_root, tmp_path):
    fleet = load_fleet(two_i_two_c_root, check_files=False)
    no_identity = Sops(str(tmp_path / "no.agekey"))
    (tmp_path / "no.agekey").write_text("")
    reasons = {}
    for name, cluster in fleet.clusters.items():
        try:
            cluster_access(fleet, cluster, no_identity, gke_access)
        except ClusterUnreachable as e:
            reasons[name] = str(e)
    assert set(reasons) == set(fleet.clusters)
    assert {c.provider for c in fleet.clusters.values()} == {"gcp", "aws", "kubeconfig"}
    for name, cluster in fleet.clusters.items():
        block = getattr(cluster, cluster.provider)
        key = block.file if cluster.provider == "kubeconfig" else block.key
        assert reasons[name].startswith(f"cluster {name}: cannot decrypt config/clusters/{name}/{key}: sops exited")
        assert "not supported" not in reasons[name]
