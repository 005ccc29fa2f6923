{{/*
Base name of every object: the release name, which storeops sets to the store name.
*/}}
{{- define "medusa.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels of one component; call with (dict "ctx" $ "component" "wordpress").
*/}}
{{- define "medusa.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
All labels of one component's objects; call like medusa.selectorLabels.
*/}}
{{- define "medusa.labels" -}}
{{ include "medusa.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ .ctx.Values.store.name }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{/*
The credentials Secret's name; installing without one is an error.
*/}}
{{- define "medusa.secretName" -}}
{{- required "existingSecret must name the Secret that holds the store's credentials" .Values.existingSecret -}}
{{- end -}}

{{/*
An env entry read from the credentials Secret; call with (dict "ctx" $ "name" "ENV" "key" "secret-key").
*/}}
{{- define "medusa.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "medusa.secretName" .ctx }}
      key: {{ .key }}
{{- end -}}

{{/*
Container security context: non-root, no escalation, no capabilities, RuntimeDefault seccomp.
*/}}
{{- define "medusa.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Pod security context for a uid/gid; call with (dict "uid" 33 "gid" 33).
*/}}
{{- define "medusa.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The public origin of the store: storefront, Store/Admin API and admin UI share it.
*/}}
{{- define "medusa.url" -}}
{{- if .Values.ingress.tlsSecretName -}}https{{- else -}}http{{- end -}}://{{ .Values.store.domain }}
{{- end -}}

{{/*
Environment of every Medusa backend container (server, worker, migration, setup).
Passwords reach the URLs through dependent environment variables, never through values.
*/}}
{{- define "medusa.backendEnv" -}}
{{- $fullname := include "medusa.fullname" . -}}
- name: NODE_ENV
  value: production
{{ include "medusa.secretEnv" (dict "ctx" . "name" "POSTGRES_PASSWORD" "key" "postgres-password") }}
{{ include "medusa.secretEnv" (dict "ctx" . "name" "REDIS_PASSWORD" "key" "redis-password") }}
- name: DATABASE_URL
  value: "postgres://{{ .Values.postgres.user }}:$(POSTGRES_PASSWORD)@{{ $fullname }}-postgres:5432/{{ .Values.postgres.database }}?sslmode=disable"
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@{{ $fullname }}-redis:6379"
{{ include "medusa.secretEnv" (dict "ctx" . "name" "JWT_SECRET" "key" "jwt-secret") }}
{{ include "medusa.secretEnv" (dict "ctx" . "name" "COOKIE_SECRET" "key" "cookie-secret") }}
- name: STORE_CORS
  value: {{ include "medusa.url" . | quote }}
- name: ADMIN_CORS
  value: {{ include "medusa.url" . | quote }}
- name: AUTH_CORS
  value: {{ include "medusa.url" . | quote }}
- name: MEDUSA_BACKEND_URL
  value: {{ include "medusa.url" . | quote }}
- name: HOME
  value: /tmp
{{- end -}}

{{/*
Image reference of the backend.
*/}}
{{- define "medusa.backendImage" -}}
{{ .Values.backend.image.repository }}:{{ .Values.backend.image.tag | default .Chart.AppVersion }}
{{- end -}}
