{{/* Names and labels. */}}
{{- define "todo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "todo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "todo.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "todo.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "todo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "todo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: todo
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "web"). */}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "todo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "todo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "todo.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Checks on values that would otherwise fail only in the cluster. */}}
{{- define "todo.validate" -}}
{{- range $name, $value := .Values.config.extraEnv -}}
{{- if regexMatch "(?i)(PASSWORD|SECRET|KEY|TOKEN|CREDENTIALS)" $name -}}
{{- fail (printf "config.extraEnv.%s looks like a secret: put it in the secret store instead" $name) -}}
{{- end -}}
{{- end -}}
{{- if regexMatch "//[^/@]*:[^/@]*@" .Values.config.databaseUrl -}}
{{- fail "config.databaseUrl must not carry a password: the app reads DATABASE_PASSWORD from the secret store" -}}
{{- end -}}
{{- range $worker := list "recurrence" "notifications" -}}
{{- $spec := index $.Values.workers $worker -}}
{{- if gt (int $spec.autoscaling.maxReplicas) (int $.Values.kafkaPartitions) -}}
{{- fail (printf "workers.%s.autoscaling.maxReplicas exceeds kafkaPartitions (%d): extra replicas would get no partition" $worker (int $.Values.kafkaPartitions)) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.migrations.secretFiles.source (list "kubernetes" "csi")) -}}
{{- fail "migrations.secretFiles.source must be kubernetes or csi" -}}
{{- end -}}
{{- end -}}

{{/* Dapr sidecar annotations: (dict "root" $ "appId" "webapp" "port" 8000 "protocol" "http"). */}}
{{- define "todo.daprAnnotations" -}}
{{- $dapr := .root.Values.dapr -}}
dapr.io/enabled: "true"
dapr.io/app-id: {{ .appId | quote }}
dapr.io/app-port: {{ .port | quote }}
dapr.io/app-protocol: {{ .protocol | quote }}
dapr.io/config: {{ $dapr.config | quote }}
dapr.io/log-level: {{ $dapr.logLevel | quote }}
dapr.io/log-as-json: "true"
dapr.io/enable-metrics: "true"
dapr.io/metrics-port: {{ $dapr.metricsPort | quote }}
dapr.io/graceful-shutdown-seconds: {{ $dapr.gracefulShutdownSeconds | quote }}
dapr.io/sidecar-cpu-request: {{ $dapr.sidecar.cpuRequest | quote }}
dapr.io/sidecar-cpu-limit: {{ $dapr.sidecar.cpuLimit | quote }}
dapr.io/sidecar-memory-request: {{ $dapr.sidecar.memoryRequest | quote }}
dapr.io/sidecar-memory-limit: {{ $dapr.sidecar.memoryLimit | quote }}
dapr.io/sidecar-seccomp-profile-type: RuntimeDefault
{{- end -}}

{{/* Pod-level labels for workload identity (AKS). */}}
{{- define "todo.identityLabels" -}}
{{- if .Values.serviceAccount.workloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end -}}
{{- end -}}

{{/* Environment shared by every app container: plain settings only. */}}
{{- define "todo.env" -}}
- name: DJANGO_SETTINGS_MODULE
  value: webapp.settings
- name: DATABASE_URL
  value: {{ required "config.databaseUrl is required" .Values.config.databaseUrl | quote }}
- name: ALLOWED_HOSTS
  value: {{ join "," .Values.config.allowedHosts | quote }}
- name: CSRF_TRUSTED_ORIGINS
  value: {{ join "," .Values.config.csrfTrustedOrigins | quote }}
- name: PUBLIC_BASE_URL
  value: {{ .Values.config.publicBaseUrl | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: LOG_JSON
  value: {{ .Values.config.logJson | quote }}
- name: EVENT_SOURCE
  value: {{ .Values.config.eventSource | quote }}
- name: API_TRUSTED_PROXIES
  value: {{ .Values.config.trustedProxies | quote }}
- name: DAPR_PUBSUB_NAME
  value: {{ .Values.dapr.pubsubName | quote }}
- name: DAPR_STATE_STORE
  value: {{ .Values.dapr.stateStore | quote }}
- name: DAPR_SECRET_STORE
  value: {{ .Values.dapr.secretStore | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The writable /tmp every container needs with a read-only root file system. */}}
{{- define "todo.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolumeSizeLimit }}
{{- end -}}

{{- define "todo.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
