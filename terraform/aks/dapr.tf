# The Dapr control plane as the AKS extension, pinned: sentry (mTLS), placement, scheduler,
# operator and the sidecar injector, in dapr-system on the system pool.
resource "azurerm_kubernetes_cluster_extension" "dapr" {
  name              = "dapr"
  cluster_id        = azurerm_kubernetes_cluster.main.id
  extension_type    = "Microsoft.Dapr"
  release_train     = "Stable"
  version           = var.dapr_extension_version
  release_namespace = "dapr-system"

  # Helm values of the Dapr chart. Sidecars talk mTLS only; workload certificates live 24 h
  # (sentry rotates them before they expire).
  configuration_settings = {
    "global.ha.enabled"                = "true"
    "global.mtls.enabled"              = "true"
    "global.mtls.workloadCertTTL"      = "24h"
    "global.mtls.allowedClockSkew"     = "15m"
    "global.logAsJson"                 = "true"
    "global.tolerations[0].key"        = "CriticalAddonsOnly"
    "global.tolerations[0].operator"   = "Exists"
    "global.tolerations[0].effect"     = "NoSchedule"
  }
}
