{{/* Chart name, overridable. */}}
{{- define "storeops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the namespaced objects: <release>-storeops, or the release name if it contains the chart name. */}}
{{- define "storeops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the cluster-scoped objects: the namespace is part of it, so that two installations never share a ClusterRole. */}}
{{- define "storeops.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "storeops.fullname" .) | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{- define "storeops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "storeops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "storeops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storeops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "storeops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "storeops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: reconciler
{{- end -}}

{{- define "storeops.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Directory the secret files are mounted in. */}}
{{- define "storeops.secretDir" -}}/etc/storeops/secrets{{- end -}}

{{/* "true" when at least one secret file is mounted; mirrors the sources of the projected volume. */}}
{{- define "storeops.hasSecrets" -}}
{{- $s := .Values.secrets -}}
{{- $git := and $s.git.existingSecret (or $s.git.tokenKey $s.git.passwordKey $s.git.sshKeyKey) -}}
{{- $hook := and $s.webhook.existingSecret $s.webhook.key -}}
{{- $forge := and .Values.forge.kind $s.forge.existingSecret $s.forge.key -}}
{{- $dash := and .Values.dashboard.enabled $s.dashboard.existingSecret (or $s.dashboard.usersKey $s.dashboard.tokensKey $s.dashboard.sessionKeyKey) -}}
{{- if or $git $hook $forge $dash -}}
true
{{- end -}}
{{- end -}}
