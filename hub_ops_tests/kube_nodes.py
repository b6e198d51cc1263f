"""Nodes on the local kube-apiserver, as a kubelet would register them (there is no kubelet
here): a Node object with labels, then its status (kubelet version, Ready) through the status
subresource. Nodes are cluster-wide, so each test's node names and pool names are unique
and its nodes are deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client


def register_node(
    api: client.ApiClient, name: str, kubelet_version: str, labels: dict[str, str], ready: bool = True
) -> client.V1Node:
    core = client.CoreV1Api(api)
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    status = {
        "status": {
            "nodeInfo": {
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "6.1.0",
                "osImage": "Container-Optimized OS",
                "containerRuntimeVersion": "containerd://1.7.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "lastHeartbeatTime": None,
                    "lastTransitionTime": None,
                }
            ],
        }
    }
    return core.patch_node_status(name, status)


class NodeFactory:
    def __init__(self, api: client.ApiClient):
        self.api = api
        self.prefix = f"t{uuid.uuid4().hex[:6]}"
        self.names: list[str] = []

    def pool(self, name: str) -> str:
        """A pool name unique to this test."""
        return f"{self.prefix}-{name}"

    def add(
        self,
        name: str,
        kubelet_version: str,
        pool: str | None = None,
        ready: bool = True,
        pool_label: str = "cloud.google.com/gke-nodepool",
        instance_type: str = "n2-standard-4",
    ) -> str:
        full = f"{self.prefix}-{name}"
        labels = {"node.kubernetes.io/instance-type": instance_type, "kubernetes.io/hostname": full}
        if pool:
            labels[pool_label] = pool
        register_node(self.api, full, kubelet_version, labels, ready)
        self.names.append(full)
        return full

    def cleanup(self) -> None:
        core = client.CoreV1Api(self.api)
        for name in self.names:
            try:
                core.delete_node(name)
            except client.ApiException as e:
                if e.status != 404:
                    raise


@pytest.fixture
def kube_nodes(kube_api) -> Iterator[NodeFactory]:
    """Registers nodes on the local kube-apiserver for one test, deletes them after."""
    factory = NodeFactory(kube_api)
    yield factory
    factory.cleanup()
