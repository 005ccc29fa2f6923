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
Where containers find the store's credentials: files of the credentials
Secret, never environment variables or command-line arguments.
*/}}
{{- define "medusa.secretsDir" -}}
/run/secrets/store
{{- end -}}

{{/*
A volume named "credentials" with some keys of the credentials Secret, readable
by the pod's group only; call with (dict "ctx" $ "keys" (list "key" ...)).
*/}}
{{- define "medusa.credentialsVolume" -}}
- name: credentials
  secret:
    secretName: {{ include "medusa.secretName" .ctx }}
    defaultMode: 0440
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end -}}

{{/*
The mount of the "credentials" volume.
*/}}
{{- define "medusa.credentialsMount" -}}
- name: credentials
  mountPath: {{ include "medusa.secretsDir" . }}
  readOnly: true
{{- end -}}

{{/*
Keys of the credentials Secret every backend container reads.
*/}}
{{- define "medusa.backendKeys" -}}
postgres-password redis-password jwt-secret cookie-secret
{{- end -}}

{{/*
Environment of every Medusa backend container (server, worker, migration, setup).
medusa-config.ts builds the database and Redis URLs from these parts and the
password files (with Medusa's ssl_mode=disable and SSL off in the driver
options: PostgreSQL runs in the namespace without TLS).
*/}}
{{- define "medusa.backendEnv" -}}
{{- $fullname := include "medusa.fullname" . -}}
{{- $dir := include "medusa.secretsDir" . -}}
- name: NODE_ENV
  value: production
- name: POSTGRES_HOST
  value: {{ $fullname }}-postgres
- name: POSTGRES_PORT
  value: "5432"
- name: POSTGRES_USER
  value: {{ .Values.postgres.user | quote }}
- name: POSTGRES_DB
  value: {{ .Values.postgres.database | quote }}
- name: POSTGRES_PASSWORD_FILE
  value: {{ $dir }}/postgres-password
- name: REDIS_HOST
  value: {{ $fullname }}-redis
- name: REDIS_PORT
  value: "6379"
- name: REDIS_PASSWORD_FILE
  value: {{ $dir }}/redis-password
- name: JWT_SECRET_FILE
  value: {{ $dir }}/jwt-secret
- name: COOKIE_SECRET_FILE
  value: {{ $dir }}/cookie-secret
- name: STORE_CORS
  value: {{ include "medusa.url" . | quote }}
- name: ADMIN_CORS
  value: {{ include "medusa.url" . | quote }}
- name: AUTH_CORS
  value: {{ include "medusa.url" . | quote }}
# The public origin: upload links, and Secure cookies exactly when it is https.
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

{{/*
How long the migration and setup scripts wait for PostgreSQL or the API
server: the Job's activeDeadlineSeconds less two minutes for the work itself.
*/}}
{{- define "medusa.jobWaitSeconds" -}}
{{- max 60 (sub (int .Values.jobs.activeDeadlineSeconds) 120) -}}
{{- end -}}
