# The deploy workflow signs in as this identity with GitHub's OIDC token: no secret is stored
# in GitHub. Only runs of var.github_repository in the GitHub environment named after
# var.environment get a token Entra ID accepts.
resource "azurerm_user_assigned_identity" "github" {
  name                = "id-${local.name}-github"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "github" {
  name                = "github-${var.environment}"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.github.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = "https://token.actions.githubusercontent.com"
  subject             = "repo:${var.github_repository}:environment:${var.github_environment}"
}

# `az aks get-credentials` (cluster user) and Helm (Kubernetes RBAC through Azure RBAC): the
# workflow creates the namespace and the chart creates Roles and RoleBindings, which the Writer
# role cannot.
resource "azurerm_role_assignment" "github_aks_user" {
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = azurerm_user_assigned_identity.github.principal_id
}

resource "azurerm_role_assignment" "github_aks_rbac_admin" {
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = azurerm_user_assigned_identity.github.principal_id
}

# Lets the workflow add its runner's address to the API server's authorized ranges for the
# length of a deploy, and take it out again (hosted runners have no fixed address).
resource "azurerm_role_assignment" "github_aks_contributor" {
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service Contributor Role"
  principal_id         = azurerm_user_assigned_identity.github.principal_id
}
