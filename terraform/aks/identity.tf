# One managed identity for the app's pods (Dapr Key Vault store) and the migration Job (CSI
# driver), federated with their Kubernetes service accounts: no credential is stored.
resource "azurerm_user_assigned_identity" "app" {
  name                = "id-${local.name}-app"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "app" {
  for_each = toset(var.app_service_accounts)

  name                = "fic-${each.value}"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.app.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject             = "system:serviceaccount:${var.app_namespace}:${each.value}"
}

# KEDA's operator reads the Kafka credentials from Key Vault for the workers' lag triggers
# (helm/todo TriggerAuthentication, provider azure-workload) as this same identity: install
# KEDA with podIdentity.azureWorkload.enabled=true and this identity's client id.
resource "azurerm_federated_identity_credential" "keda" {
  name                = "fic-keda-operator"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.app.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject             = "system:serviceaccount:keda:keda-operator"
}
