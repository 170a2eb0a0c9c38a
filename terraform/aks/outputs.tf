output "resource_group_name" {
  description = "Resource group of the environment."
  value       = azurerm_resource_group.main.name
}

output "aks_cluster_name" {
  description = "AKS cluster name (az aks get-credentials --name ...)."
  value       = azurerm_kubernetes_cluster.main.name
}

output "aks_oidc_issuer_url" {
  description = "OIDC issuer of the cluster, federated with the app identity."
  value       = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "acr_login_server" {
  description = "Registry the deploy workflow pushes the image to."
  value       = azurerm_container_registry.main.login_server
}

output "key_vault_name" {
  description = "Key Vault of the app's secrets (dapr/cloud/secretstore.yaml vaultName)."
  value       = azurerm_key_vault.main.name
}

output "key_vault_uri" {
  description = "Key Vault URI."
  value       = azurerm_key_vault.main.vault_uri
}

output "app_identity_client_id" {
  description = "Client id of the app's managed identity (Helm serviceAccount.workloadIdentity.clientId)."
  value       = azurerm_user_assigned_identity.app.client_id
}

output "tenant_id" {
  description = "Entra ID tenant of the identity and the vault."
  value       = data.azurerm_client_config.current.tenant_id
}

output "postgres_fqdn" {
  description = "PostgreSQL server host name, reachable from inside the virtual network only."
  value       = azurerm_postgresql_flexible_server.main.fqdn
}

output "database_url" {
  description = "DATABASE_URL for Helm config.databaseUrl (no password: it is in Key Vault)."
  value       = "postgresql://${azurerm_postgresql_flexible_server.main.administrator_login}@${azurerm_postgresql_flexible_server.main.fqdn}:5432/${azurerm_postgresql_flexible_server_database.app.name}?sslmode=require"
}

output "log_analytics_workspace_id" {
  description = "Log Analytics workspace of Container Insights."
  value       = azurerm_log_analytics_workspace.main.id
}

output "github_identity_client_id" {
  description = "Client id the deploy workflow signs in with (GitHub environment variable AZURE_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.github.client_id
}
