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
{{- $budget := include "todo.connectionBudget" . | fromYaml -}}
{{- if gt (int $budget.total) (int $budget.available) -}}
{{- $web := .Values.web.server -}}
{{- fail (printf "database connection budget exceeded: at full scale the release can hold %d PostgreSQL connections (web %d pods x (%d processes x (%d pooled + 2 stream) + %d state store) = %d, recurrence %d pods x %d = %d, notifications %d pods x %d = %d, reserve %d) but the server lets it open %d (database.maxConnections %d - database.serverReservedConnections %d). Lower the maxReplicas, web.server.concurrency or web.server.poolMaxSize, or raise database.maxConnections along with the server's max_connections." (int $budget.total) (int $budget.web.pods) (int $web.concurrency) (int $web.poolMaxSize) (int .Values.dapr.stateStoreMaxConnections) (int $budget.web.total) (int $budget.recurrence.pods) (int $budget.recurrence.perPod) (int $budget.recurrence.total) (int $budget.notifications.pods) (int $budget.notifications.perPod) (int $budget.notifications.total) (int $budget.reserve) (int $budget.available) (int .Values.database.maxConnections) (int .Values.database.serverReservedConnections)) -}}
{{- end -}}
{{- end -}}

{{/*
Rolling-update surge of each Deployment kind; the Deployments and the connection budget read
these, so the budget counts the extra pods of a rollout at full scale.
*/}}
{{- define "todo.webMaxSurge" -}}25%{{- end -}}
{{- define "todo.workerMaxSurge" -}}1{{- end -}}

{{/* The most pods a Deployment runs: (dict "replicas" n "autoscaling" {...} "maxSurge" "25%"|"1"). */}}
{{- define "todo.peakPods" -}}
{{- $replicas := int (ternary .autoscaling.maxReplicas .replicas .autoscaling.enabled) -}}
{{- $surge := 0 -}}
{{- if hasSuffix "%" .maxSurge -}}
{{- $surge = int (ceil (divf (mul $replicas (int (trimSuffix "%" .maxSurge))) 100)) -}}
{{- else -}}
{{- $surge = int .maxSurge -}}
{{- end -}}
{{- add $replicas $surge -}}
{{- end -}}

{{/*
Connections one worker process holds: no pool, one persistent connection per fixed thread.
WORKER_THREADS (10) app-callback threads in webapp/events/worker.py, the outbox relay thread,
one readiness probe at a time, and the notifications worker's delivery threads.
(dict "root" $ "worker" "recurrence"|"notifications")
*/}}
{{- define "todo.workerConnections" -}}
{{- $spec := index .root.Values.workers .worker -}}
{{- add 10 1 1 (int (default 0 $spec.deliveryThreads)) -}}
{{- end -}}

{{/* The connection budget (values.yaml, database) as YAML: pods, per pod and total of each. */}}
{{- define "todo.connectionBudget" -}}
{{- $v := .Values -}}
{{- $webPods := int (include "todo.peakPods" (dict "replicas" $v.web.replicas "autoscaling" $v.web.autoscaling "maxSurge" (include "todo.webMaxSurge" .))) -}}
{{- /* + 2 per process: the event stream's LISTEN and slot connections (webapp/events/notify.py) */ -}}
{{- $webPerPod := add (mul (int $v.web.server.concurrency) (add (int $v.web.server.poolMaxSize) 2)) (int $v.dapr.stateStoreMaxConnections) -}}
{{- $total := add (mul $webPods $webPerPod) (int $v.database.reserve) -}}
web:
  pods: {{ $webPods }}
  perPod: {{ $webPerPod }}
  total: {{ mul $webPods $webPerPod }}
{{- range $worker := list "recurrence" "notifications" }}
{{- $spec := index $v.workers $worker }}
{{- $pods := int (include "todo.peakPods" (dict "replicas" $spec.replicas "autoscaling" $spec.autoscaling "maxSurge" (include "todo.workerMaxSurge" $))) }}
{{- $perPod := int (include "todo.workerConnections" (dict "root" $ "worker" $worker)) }}
{{- $total = add $total (mul $pods $perPod) }}
{{ $worker }}:
  pods: {{ $pods }}
  perPod: {{ $perPod }}
  total: {{ mul $pods $perPod }}
{{- end }}
reserve: {{ int $v.database.reserve }}
total: {{ $total }}
available: {{ sub (int $v.database.maxConnections) (int $v.database.serverReservedConnections) }}
{{- end -}}

{{/* DATABASE_APPLICATION_NAME, shown in pg_stat_activity: (dict "root" $ "component" "web"). */}}
{{- define "todo.databaseApplicationName" -}}
- name: DATABASE_APPLICATION_NAME
  value: {{ printf "%s-%s" (include "todo.fullname" .root) .component | trunc 63 | quote }}
{{- end -}}

{{/* A CPU quantity ("250m", "1", 0.5) in millicores. */}}
{{- define "todo.millicores" -}}
{{- $quantity := toString . -}}
{{- if hasSuffix "m" $quantity -}}
{{- trimSuffix "m" $quantity | int -}}
{{- else -}}
{{- mulf (float64 $quantity) 1000 | int -}}
{{- end -}}
{{- end -}}

{{/* A memory quantity ("512Mi", "1Gi") in MiB. */}}
{{- define "todo.mebibytes" -}}
{{- $quantity := toString . -}}
{{- if hasSuffix "Gi" $quantity -}}
{{- mul (trimSuffix "Gi" $quantity | int) 1024 -}}
{{- else -}}
{{- trimSuffix "Mi" $quantity | int -}}
{{- end -}}
{{- end -}}

{{/* One of requests/limits per process, times the processes: (dict "spec" {...} "processes" n). */}}
{{- define "todo.scaledResources" -}}
{{- $millicores := mul (int (include "todo.millicores" .spec.cpu)) .processes -}}
{{- if eq (mod $millicores 1000) 0 }}
cpu: {{ div $millicores 1000 | quote }}
{{- else }}
cpu: {{ printf "%dm" $millicores }}
{{- end }}
memory: {{ printf "%dMi" (mul (int (include "todo.mebibytes" .spec.memory)) .processes) }}
{{- end -}}

{{/* The web container's resources: web.resourcesPerProcess times web.server.concurrency. */}}
{{- define "todo.webResources" -}}
{{- $processes := int .Values.web.server.concurrency -}}
requests:
  {{- include "todo.scaledResources" (dict "spec" .Values.web.resourcesPerProcess.requests "processes" $processes) | trim | nindent 2 }}
limits:
  {{- include "todo.scaledResources" (dict "spec" .Values.web.resourcesPerProcess.limits "processes" $processes) | trim | nindent 2 }}
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
{{- with .Values.tracing }}
# The app's own spans (webapp/tracing.py), to the Zipkin the sidecars' Configuration uses.
- name: OTEL_ENABLED
  value: {{ .enabled | quote }}
{{- if .enabled }}
- name: OTEL_EXPORTER_ZIPKIN_ENDPOINT
  value: {{ required "tracing.zipkinEndpoint is required when tracing.enabled" .zipkinEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .samplingRate | quote }}
{{- end }}
{{- end }}
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
