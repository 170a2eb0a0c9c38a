resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_139:The deploy workflow pushes from hosted runners; access is limited by Entra ID RBAC and the firewall below
  #checkov:skip=CKV_AZURE_166:No scanner releases quarantined images here, so quarantine would block every pull; images are scanned before push and deployed by digest
  #checkov:skip=CKV_AZURE_164:Images are pinned by digest at deploy time; content trust is deprecated in ACR in favour of Notation
  name                          = "acr${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Premium"
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = true
  zone_redundancy_enabled       = true
  data_endpoint_enabled         = true
  # Off: with quarantine on, a pushed image cannot be pulled until a scanner releases it, and
  # nothing here does. Images are scanned before they are pushed (image-scan.yml, deploy.yml)
  # and deployed by digest.
  quarantine_policy_enabled     = false
  retention_policy_in_days      = 30
  network_rule_bypass_option    = "AzureServices"
  tags                          = local.tags

  georeplications {
    location                = var.location == "westeurope" ? "northeurope" : "westeurope"
    zone_redundancy_enabled = true
    tags                    = local.tags
  }
}

# Nodes pull images with the kubelet identity; no pull secret exists anywhere.
resource "azurerm_role_assignment" "aks_acr_pull" {
  scope                            = azurerm_container_registry.main.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

resource "azurerm_private_endpoint" "acr" {
  name                = "pe-${local.name}-acr"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "acr"
    private_connection_resource_id = azurerm_container_registry.main.id
    subresource_names              = ["registry"]
    is_manual_connection           = false
  }

  # The registry and its regional data endpoints resolve to this endpoint from the nodes.
  private_dns_zone_group {
    name                 = "acr"
    private_dns_zone_ids = [azurerm_private_dns_zone.acr.id]
  }
}

resource "azurerm_private_dns_zone" "acr" {
  name                = "privatelink.azurecr.io"
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "acr" {
  name                  = "acr"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.acr.name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}

# The deploy workflow pushes the image it built and tested (identity in github.tf).
resource "azurerm_role_assignment" "github_acr_push" {
  scope                = azurerm_container_registry.main.id
  role_definition_name = "AcrPush"
  principal_id         = azurerm_user_assigned_identity.github.principal_id
}
