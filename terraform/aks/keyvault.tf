# The app's secrets. Pods read them through the Dapr secret store (secretstores.azure.keyvault)
# and the migration Job through the Secrets Store CSI driver, both with workload identity.
#
# Two ways in, both required: the pods reach the vault through the private endpoint (the
# privatelink zone below makes its name resolve to the endpoint's address inside the virtual
# network), and Terraform writes the secrets from outside it, through the public endpoint,
# which the firewall opens to admin_cidrs only. With public access off, `terraform apply` from
# any machine outside the virtual network fails on the first secret it writes.
resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV_AZURE_189:Public access is limited by the firewall (default Deny) to admin_cidrs, where Terraform writes the secrets; pods use the private endpoint
  name                          = "kv-${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "premium"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = true
  tags                          = local.tags

  network_acls {
    default_action             = "Deny"
    bypass                     = "AzureServices"
    ip_rules                   = var.admin_cidrs
    virtual_network_subnet_ids = []
  }
}

resource "azurerm_private_endpoint" "key_vault" {
  name                = "pe-${local.name}-kv"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "key-vault"
    private_connection_resource_id = azurerm_key_vault.main.id
    subresource_names              = ["vault"]
    is_manual_connection           = false
  }

  # Writes the vault's A record into the zone: <vault>.vault.azure.net resolves, through its
  # privatelink CNAME, to this endpoint from the pods.
  private_dns_zone_group {
    name                 = "key-vault"
    private_dns_zone_ids = [azurerm_private_dns_zone.key_vault.id]
  }
}

resource "azurerm_private_dns_zone" "key_vault" {
  name                = "privatelink.vaultcore.azure.net"
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "key_vault" {
  name                  = "key-vault"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.key_vault.name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}

# Whoever runs Terraform writes the generated secrets.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# The app identity may only read secrets.
resource "azurerm_role_assignment" "app_secrets_user" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
}

resource "random_password" "django_secret_key" {
  length  = 64
  special = false
}

# Names are the store keys the app asks for (webapp.secrets.dapr_secret_key).
resource "azurerm_key_vault_secret" "django_secret_key" {
  #checkov:skip=CKV_AZURE_41:Rotated by operators (docs/deployment.md); an expiry date would stop the app when it passes
  name         = "django-secret-key"
  value        = random_password.django_secret_key.result
  key_vault_id = azurerm_key_vault.main.id
  content_type = "text/plain"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

resource "azurerm_key_vault_secret" "database_password" {
  #checkov:skip=CKV_AZURE_41:Rotated together with the server's password; an expiry date would stop the app when it passes
  name         = "database-password"
  value        = random_password.postgres.result
  key_vault_id = azurerm_key_vault.main.id
  content_type = "text/plain"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

resource "azurerm_key_vault_secret" "state_store_connection_string" {
  #checkov:skip=CKV_AZURE_41:Rotated together with the server's password; an expiry date would stop the app when it passes
  name         = "state-store-connection-string"
  value        = "host=${azurerm_postgresql_flexible_server.main.fqdn} port=5432 user=${azurerm_postgresql_flexible_server.main.administrator_login} password=${random_password.postgres.result} dbname=${azurerm_postgresql_flexible_server_database.app.name} sslmode=require"
  key_vault_id = azurerm_key_vault.main.id
  content_type = "text/plain"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}
