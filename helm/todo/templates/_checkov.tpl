{{/*
In-place skips for checkov, rendered only when the values make the check fail on purpose; each
says why. (dict "root" $ "automount" true|false)
*/}}
{{- define "todo.checkovSkips" -}}
{{- $skips := list -}}
{{- if not .root.Values.image.digest -}}
{{- $skips = append $skips "CKV_K8S_43=Pinned by digest in production through image.digest; development builds use a tag" -}}
{{- end -}}
{{- if ne .root.Values.image.pullPolicy "Always" -}}
{{- $skips = append $skips "CKV_K8S_15=Minikube runs an image built into the node; there is no registry to pull from" -}}
{{- end -}}
{{- if .automount -}}
{{- $skips = append $skips "CKV_K8S_38=The Kubernetes secret store in the Dapr sidecar reads Secrets with the pod token" -}}
{{- end -}}
{{- range $index, $skip := $skips }}
checkov.io/skip{{ add1 $index }}: {{ $skip | quote }}
{{- end -}}
{{- end -}}
