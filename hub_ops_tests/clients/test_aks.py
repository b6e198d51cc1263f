"""AKS key files: the service principal's JSON in the spellings it comes in (no server needed;
the end-to-end tests are in test_aks_kube.py)."""

from __future__ import annotations

import pytest

from hub_ops.clients.aks import AksError, ServicePrincipal, service_principal

EXPECTED = ServicePrincipal(tenant="t-1", client_id="c-1", secret="s3cr3t-value", subscription="sub-1")


@pytest.mark.parametrize(
    "key",
    [
        # az ad sp create-for-rbac --sdk-auth
        {"clientId": "c-1", "clientSecret": "s3cr3t-value", "tenantId": "t-1", "subscriptionId": "sub-1"},
        # its plain output, with the subscription added
        {"appId": "c-1", "password": "s3cr3t-value", "tenant": "t-1", "subscriptionId": "sub-1", "displayName": "x"},
        # 2i2c's deployer files
        {
            "service_principal_id": "c-1",
            "service_principal_password": "s3cr3t-value",
            "tenant_id": "t-1",
            "subscription_id": "sub-1",
        },
    ],
)
def test_a_service_principal_is_read_in_each_spelling_and_never_shown(key):
    principal = service_principal(key)
    assert principal == EXPECTED
    assert "s3cr3t-value" not in repr(principal)


def test_a_key_missing_fields_names_the_file_and_the_fields():
    with pytest.raises(AksError) as missing:
        service_principal({"appId": "c-1", "secret": "s3cr3t-value"}, "clusters/utoronto/enc-deployer.secret.json")
    assert str(missing.value) == (
        "clusters/utoronto/enc-deployer.secret.json: missing tenantId, clientSecret (a service principal's JSON, "
        "as `az ad sp create-for-rbac --sdk-auth` prints it)"
    )
    with pytest.raises(AksError, match="expected a JSON object"):
        service_principal(["not", "a", "mapping"], "k.json")
