"""Terraform for AKS, read with python-hcl2 (no provider can be downloaded here)."""

from __future__ import annotations

import functools
from typing import Any

import hcl2
import pytest

from tests.deploy.conftest import ROOT

AKS = ROOT / "terraform" / "aks"
# Plain strings ("todo", not '"todo"'), as Terraform sees them.
OPTIONS = hcl2.utils.SerializationOptions(strip_string_quotes=True, with_comments=False)


@functools.cache
def load(name: str) -> dict[str, Any]:
    with (AKS / name).open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=OPTIONS)
    return parsed


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(AKS.glob("*.tf")):
        for block in load(path.name).get("resource", []):
            for resource_type, named in block.items():
                if resource_type == kind:
                    found.update(named)
    return found


def one(kind: str) -> dict[str, Any]:
    (only,) = resources(kind).values()
    return only


def block(resource: dict[str, Any], name: str) -> dict[str, Any]:
    (value,) = resource[name]
    assert isinstance(value, dict)
    return value


def test_cluster_spans_three_zones_with_autoscaled_system_and_workload_pools() -> None:
    cluster = one("azurerm_kubernetes_cluster")
    system = block(cluster, "default_node_pool")
    workload = one("azurerm_kubernetes_cluster_node_pool")
    assert system["zones"] == workload["zones"] == "${var.availability_zones}"
    for pool in (system, workload):
        assert pool["auto_scaling_enabled"] is True
        assert pool["min_count"] and pool["max_count"]
    assert system["only_critical_addons_enabled"] is True
    assert workload["mode"] == "User"
    variables = {k: v for b in load("variables.tf")["variable"] for k, v in b.items()}
    assert variables["availability_zones"]["default"] == ["1", "2", "3"]


def test_cluster_has_oidc_workload_identity_and_azure_cni_with_network_policy() -> None:
    cluster = one("azurerm_kubernetes_cluster")
    assert cluster["oidc_issuer_enabled"] is True
    assert cluster["workload_identity_enabled"] is True
    assert cluster["local_account_disabled"] is True
    network = block(cluster, "network_profile")
    assert network["network_plugin"] == "azure"
    assert network["network_policy"] in {"azure", "calico", "cilium"}
    # Container Insights and the CSI driver the migration Job mounts secrets with.
    assert block(cluster, "oms_agent")["log_analytics_workspace_id"]
    assert block(cluster, "key_vault_secrets_provider")["secret_rotation_enabled"] is True


def test_registry_grants_pull_to_the_cluster() -> None:
    acr = one("azurerm_container_registry")
    assert acr["admin_enabled"] is False
    pulls = [
        r
        for r in resources("azurerm_role_assignment").values()
        if r["role_definition_name"] == "AcrPull"
    ]
    assert len(pulls) == 1
    assert "kubelet_identity" in pulls[0]["principal_id"]
    assert "azurerm_container_registry.main.id" in pulls[0]["scope"]


def test_key_vault_uses_rbac_and_holds_the_app_secrets() -> None:
    vault = one("azurerm_key_vault")
    assert vault["enable_rbac_authorization"] is True
    assert vault["purge_protection_enabled"] is True
    names = {s["name"] for s in resources("azurerm_key_vault_secret").values()}
    assert {"django-secret-key", "database-password"} <= names
    roles = {r["role_definition_name"] for r in resources("azurerm_role_assignment").values()}
    assert "Key Vault Secrets User" in roles
    credentials = resources("azurerm_federated_identity_credential")["app"]
    assert "system:serviceaccount:" in credentials["subject"]
    assert "oidc_issuer_url" in credentials["issuer"]


def test_postgres_is_in_a_delegated_subnet_without_public_access() -> None:
    server = one("azurerm_postgresql_flexible_server")
    assert server["public_network_access_enabled"] is False
    assert "azurerm_subnet.postgres.id" in server["delegated_subnet_id"]
    assert block(server, "high_availability")["mode"] == "ZoneRedundant"
    subnet = resources("azurerm_subnet")["postgres"]
    delegation = block(subnet, "delegation")
    assert block(delegation, "service_delegation")["name"] == (
        "Microsoft.DBforPostgreSQL/flexibleServers"
    )


def test_log_analytics_collects_container_insights() -> None:
    workspace = one("azurerm_log_analytics_workspace")
    assert workspace["retention_in_days"]
    rule = one("azurerm_monitor_data_collection_rule")
    assert "Microsoft-ContainerInsights-Group-Default" in str(rule["data_flow"])


def test_remote_state_backend_is_configured_with_an_example() -> None:
    (terraform_block,) = load("versions.tf")["terraform"]
    (backend,) = terraform_block["backend"]
    assert "azurerm" in backend
    example = load("backend.hcl.example")
    assert {"resource_group_name", "storage_account_name", "container_name", "key"} <= set(example)


@pytest.mark.parametrize(
    "name",
    ["subscription_id", "environment", "location", "api_authorized_cidrs", "availability_zones"],
)
def test_key_variables_are_validated(name: str) -> None:
    variables = {k: v for b in load("variables.tf")["variable"] for k, v in b.items()}
    (validation,) = variables[name]["validation"]
    assert validation["condition"] and validation["error_message"]


def test_every_variable_and_output_is_described() -> None:
    for kind, file in (("variable", "variables.tf"), ("output", "outputs.tf")):
        for named in load(file)[kind]:
            for name, spec in named.items():
                assert spec.get("description"), f"{kind} {name} has no description"
    outputs = {k for b in load("outputs.tf")["output"] for k in b}
    # What the deploy workflow and values-aks.yaml need.
    assert {"acr_login_server", "key_vault_name", "app_identity_client_id", "database_url"} <= (
        outputs
    )


def test_key_vault_is_reachable_from_the_pods_and_from_terraform() -> None:
    """Pods resolve the vault to its private endpoint; Terraform writes secrets through the
    firewall. With public access off, `apply` fails on the first secret it writes; without
    the privatelink zone, pods resolve the public address and are refused."""
    vault = one("azurerm_key_vault")
    assert vault["public_network_access_enabled"] is True
    acls = block(vault, "network_acls")
    assert acls["default_action"] == "Deny"
    assert acls["ip_rules"] == "${var.admin_cidrs}"
    assert_private_dns("key_vault", "privatelink.vaultcore.azure.net")


def test_registry_images_can_be_pulled_and_resolve_privately() -> None:
    """Quarantine holds every pushed image until a scanner releases it; nothing here does."""
    acr = one("azurerm_container_registry")
    assert acr["quarantine_policy_enabled"] is False
    assert_private_dns("acr", "privatelink.azurecr.io")


def assert_private_dns(name: str, zone_name: str) -> None:
    zone = resources("azurerm_private_dns_zone")[name]
    assert zone["name"] == zone_name
    link = resources("azurerm_private_dns_zone_virtual_network_link")[name]
    assert link["private_dns_zone_name"] == f"${{azurerm_private_dns_zone.{name}.name}}"
    assert link["virtual_network_id"] == "${azurerm_virtual_network.main.id}"
    endpoint = resources("azurerm_private_endpoint")[name]
    group = block(endpoint, "private_dns_zone_group")
    assert group["private_dns_zone_ids"] == [f"${{azurerm_private_dns_zone.{name}.id}}"]
    assert "azurerm_subnet.endpoints.id" in endpoint["subnet_id"]


def test_github_signs_in_with_oidc_and_may_push_and_deploy() -> None:
    credential = resources("azurerm_federated_identity_credential")["github"]
    assert credential["issuer"] == "https://token.actions.githubusercontent.com"
    assert credential["subject"].startswith("repo:${var.github_repository}:environment:")
    assert credential["audience"] == ["api://AzureADTokenExchange"]
    granted = {
        (r["role_definition_name"], r["scope"])
        for r in resources("azurerm_role_assignment").values()
        if "azurerm_user_assigned_identity.github" in r["principal_id"]
    }
    assert ("AcrPush", "${azurerm_container_registry.main.id}") in granted
    cluster = "${azurerm_kubernetes_cluster.main.id}"
    assert ("Azure Kubernetes Service Cluster User Role", cluster) in granted
    assert ("Azure Kubernetes Service RBAC Cluster Admin", cluster) in granted


def test_dapr_control_plane_is_installed_pinned_with_mtls_and_24h_certificates() -> None:
    extension = one("azurerm_kubernetes_cluster_extension")
    assert extension["extension_type"] == "Microsoft.Dapr"
    assert extension["version"] == "${var.dapr_extension_version}"
    variables = {k: v for b in load("variables.tf")["variable"] for k, v in b.items()}
    assert variables["dapr_extension_version"]["default"].count(".") == 2
    settings = extension["configuration_settings"]
    assert settings["global.mtls.enabled"] == "true"
    assert settings["global.mtls.workloadCertTTL"] == "24h"


def test_keda_reads_the_kafka_credentials_as_a_federated_identity() -> None:
    keda = resources("azurerm_federated_identity_credential")["keda"]
    assert keda["subject"] == "system:serviceaccount:keda:keda-operator"
    assert keda["parent_id"] == "${azurerm_user_assigned_identity.app.id}"
