{{/*
Base name of every object: the release name, which storeops sets to the store name.
*/}}
{{- define "woocommerce.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels of one component; call with (dict "ctx" $ "component" "wordpress").
*/}}
{{- define "woocommerce.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
All labels of one component's objects; call like woocommerce.selectorLabels.
*/}}
{{- define "woocommerce.labels" -}}
{{ include "woocommerce.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ .ctx.Values.store.name }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{/*
The credentials Secret's name; installing without one is an error.
*/}}
{{- define "woocommerce.secretName" -}}
{{- required "existingSecret must name the Secret that holds the store's credentials" .Values.existingSecret -}}
{{- end -}}

{{/*
An env entry read from the credentials Secret; call with (dict "ctx" $ "name" "ENV" "key" "secret-key").
*/}}
{{- define "woocommerce.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "woocommerce.secretName" .ctx }}
      key: {{ .key }}
{{- end -}}

{{/*
The public URL of the store.
*/}}
{{- define "woocommerce.url" -}}
{{- if .Values.ingress.tlsSecretName -}}https{{- else -}}http{{- end -}}://{{ .Values.store.domain }}
{{- end -}}

{{/*
Database environment shared by WordPress and the setup Job (the image's contract).
*/}}
{{- define "woocommerce.dbEnv" -}}
- name: WORDPRESS_DB_HOST
  value: {{ include "woocommerce.fullname" . }}-mysql
- name: WORDPRESS_DB_NAME
  value: {{ .Values.mysql.database | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.mysql.user | quote }}
{{ include "woocommerce.secretEnv" (dict "ctx" . "name" "WORDPRESS_DB_PASSWORD" "key" "mysql-password") }}
{{- range $env, $key := dict "WORDPRESS_AUTH_KEY" "wordpress-auth-key" "WORDPRESS_SECURE_AUTH_KEY" "wordpress-secure-auth-key" "WORDPRESS_LOGGED_IN_KEY" "wordpress-logged-in-key" "WORDPRESS_NONCE_KEY" "wordpress-nonce-key" "WORDPRESS_AUTH_SALT" "wordpress-auth-salt" "WORDPRESS_SECURE_AUTH_SALT" "wordpress-secure-auth-salt" "WORDPRESS_LOGGED_IN_SALT" "wordpress-logged-in-salt" "WORDPRESS_NONCE_SALT" "wordpress-nonce-salt" }}
{{ include "woocommerce.secretEnv" (dict "ctx" $ "name" $env "key" $key) }}
{{- end }}
- name: WORDPRESS_CONFIG_EXTRA
  value: |
    define('DISALLOW_FILE_EDIT', true);
    define('WP_HOME', '{{ include "woocommerce.url" . }}');
    define('WP_SITEURL', '{{ include "woocommerce.url" . }}');
{{- end -}}

{{/*
Container security context: non-root, no escalation, no capabilities, RuntimeDefault seccomp.
*/}}
{{- define "woocommerce.containerSecurityContext" -}}
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
{{- define "woocommerce.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}
