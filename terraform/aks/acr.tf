resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_139:The deploy workflow pushes from hosted runners; access is limited by Entra ID RBAC and the firewall below
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
  quarantine_policy_enabled     = true
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
}
