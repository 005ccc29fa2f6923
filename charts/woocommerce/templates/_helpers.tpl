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
Where containers find the store's credentials: files of the credentials
Secret, never environment variables or command-line arguments.
*/}}
{{- define "woocommerce.secretsDir" -}}
/run/secrets/store
{{- end -}}

{{/*
A volume named "credentials" with some keys of the credentials Secret, readable
by the pod's group only; call with (dict "ctx" $ "keys" (list "key" ...)).
*/}}
{{- define "woocommerce.credentialsVolume" -}}
- name: credentials
  secret:
    secretName: {{ include "woocommerce.secretName" .ctx }}
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
{{- define "woocommerce.credentialsMount" -}}
- name: credentials
  mountPath: {{ include "woocommerce.secretsDir" . }}
  readOnly: true
{{- end -}}

{{/*
The wp-config.php keys and salts: environment variable => Secret key.
*/}}
{{- define "woocommerce.saltKeys" -}}
WORDPRESS_AUTH_KEY: wordpress-auth-key
WORDPRESS_SECURE_AUTH_KEY: wordpress-secure-auth-key
WORDPRESS_LOGGED_IN_KEY: wordpress-logged-in-key
WORDPRESS_NONCE_KEY: wordpress-nonce-key
WORDPRESS_AUTH_SALT: wordpress-auth-salt
WORDPRESS_SECURE_AUTH_SALT: wordpress-secure-auth-salt
WORDPRESS_LOGGED_IN_SALT: wordpress-logged-in-salt
WORDPRESS_NONCE_SALT: wordpress-nonce-salt
{{- end -}}

{{/*
Keys of the credentials Secret that WordPress (and WP-CLI with the same
wp-config.php) reads.
*/}}
{{- define "woocommerce.wordpressKeys" -}}
{{- $keys := list "mysql-password" -}}
{{- range $env, $key := include "woocommerce.saltKeys" . | fromYaml -}}
{{- $keys = append $keys $key -}}
{{- end -}}
{{- join " " $keys -}}
{{- end -}}

{{/*
The public URL of the store.
*/}}
{{- define "woocommerce.url" -}}
{{- if .Values.ingress.tlsSecretName -}}https{{- else -}}http{{- end -}}://{{ .Values.store.domain }}
{{- end -}}

{{/*
Database environment shared by WordPress and WP-CLI (the image's contract):
wp-config-docker.php reads every NAME_FILE, so no credential is an
environment variable.
*/}}
{{- define "woocommerce.dbEnv" -}}
{{- $dir := include "woocommerce.secretsDir" . -}}
- name: WORDPRESS_DB_HOST
  value: {{ include "woocommerce.fullname" . }}-mysql
- name: WORDPRESS_DB_NAME
  value: {{ .Values.mysql.database | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.mysql.user | quote }}
- name: WORDPRESS_DB_PASSWORD_FILE
  value: {{ $dir }}/mysql-password
{{- range $env, $key := include "woocommerce.saltKeys" . | fromYaml }}
- name: {{ $env }}_FILE
  value: {{ $dir }}/{{ $key }}
{{- end }}
# wp-config.php extras: the site URL; no theme or plugin editor; WP-Cron off
# (a CronJob runs it, instead of page views calling the public URL from
# inside the pod); and the web installer refused (the setup Job installs
# with WP-CLI), so nobody reaching the host first can claim the site.
- name: WORDPRESS_CONFIG_EXTRA
  value: |
    define('DISALLOW_FILE_EDIT', true);
    define('WP_HOME', '{{ include "woocommerce.url" . }}');
    define('WP_SITEURL', '{{ include "woocommerce.url" . }}');
    define('DISABLE_WP_CRON', true);
    if (PHP_SAPI !== 'cli' && in_array(basename($_SERVER['SCRIPT_FILENAME'] ?? ''), array('install.php', 'setup-config.php'), true)) { http_response_code(403); exit('This store is installed by storeops.'); }
{{- end -}}

{{/*
WP-CLI needs the WordPress core files and wp-config.php: an init container
copies them from the WordPress image into a scratch volume "html", without
touching wp-content.
*/}}
{{- define "woocommerce.wordpressFiles" -}}
- name: wordpress-files
  image: "{{ .Values.wordpress.image.repository }}:{{ .Values.wordpress.image.tag }}"
  imagePullPolicy: {{ .Values.wordpress.image.pullPolicy }}
  command:
    - sh
    - -c
    - cp -Rn /usr/src/wordpress/. /var/www/html/ && cp /usr/src/wordpress/wp-config-docker.php /var/www/html/wp-config.php
  resources:
    {{- toYaml .Values.setup.copyResources | nindent 4 }}
  securityContext:
    {{- include "woocommerce.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: html
      mountPath: /var/www/html
    - name: wp-content
      mountPath: /var/www/html/wp-content
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

{{/*
The pod spec (without restartPolicy) of a WP-CLI run of one of the setup
ConfigMap's scripts; call with (dict "ctx" $ "script" "setup.sh").
*/}}
{{- define "woocommerce.wpCliPod" -}}
{{- $ := .ctx -}}
{{- $fullname := include "woocommerce.fullname" $ -}}
{{- $dir := include "woocommerce.secretsDir" $ -}}
# The wp-content claim is ReadWriteOnce: run on the node that has WordPress.
affinity:
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "woocommerce.selectorLabels" (dict "ctx" $ "component" "wordpress") | nindent 12 }}
automountServiceAccountToken: false
enableServiceLinks: false
# wordpress:cli is Alpine (www-data is uid 82 there); run it as the Debian
# image's www-data (33) so files it writes on the volume match WordPress.
securityContext:
  {{- include "woocommerce.podSecurityContext" (dict "uid" 33 "gid" 33) | nindent 2 }}
initContainers:
  {{- include "woocommerce.wordpressFiles" $ | nindent 2 }}
containers:
  - name: wp-cli
    image: "{{ $.Values.setup.image.repository }}:{{ $.Values.setup.image.tag }}"
    imagePullPolicy: {{ $.Values.setup.image.pullPolicy }}
    command: ["sh", "/scripts/{{ .script }}"]
    env:
      {{- include "woocommerce.dbEnv" $ | nindent 6 }}
      - name: HOME
        value: /tmp
      - name: WP_CLI_CACHE_DIR
        value: /tmp/wp-cli-cache
      {{- if eq .script "setup.sh" }}
      - name: STORE_URL
        value: {{ include "woocommerce.url" $ | quote }}
      - name: STORE_TITLE
        value: {{ $.Values.store.title | quote }}
      - name: ADMIN_USER
        value: {{ $.Values.wordpress.adminUser | quote }}
      - name: ADMIN_EMAIL
        value: {{ $.Values.store.adminEmail | quote }}
      - name: ADMIN_PASSWORD_FILE
        value: {{ $dir }}/admin-password
      - name: WOOCOMMERCE_VERSION
        value: {{ $.Values.setup.woocommerceVersion | quote }}
      - name: IMPORTER_VERSION
        value: {{ $.Values.setup.importerVersion | quote }}
      - name: SAMPLE_DATA
        value: {{ $.Values.store.sampleData | quote }}
      - name: PAYMENT_METHODS
        value: {{ join "," $.Values.store.paymentMethods | quote }}
      - name: FLAT_RATE_COST
        value: {{ $.Values.store.flatRateCost | quote }}
      {{- end }}
    resources:
      {{- toYaml $.Values.setup.resources | nindent 6 }}
    securityContext:
      {{- include "woocommerce.containerSecurityContext" $ | nindent 6 }}
    volumeMounts:
      - name: html
        mountPath: /var/www/html
      - name: wp-content
        mountPath: /var/www/html/wp-content
      - name: scripts
        mountPath: /scripts
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- include "woocommerce.credentialsMount" $ | nindent 6 }}
volumes:
  - name: html
    emptyDir:
      sizeLimit: 256Mi
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  - name: wp-content
    persistentVolumeClaim:
      claimName: {{ $fullname }}-wp-content
  - name: scripts
    configMap:
      name: {{ $fullname }}-setup
  {{- $keys := splitList " " (include "woocommerce.wordpressKeys" $) }}
  {{- if eq .script "setup.sh" }}
  {{- $keys = append $keys "admin-password" }}
  {{- end }}
  {{- include "woocommerce.credentialsVolume" (dict "ctx" $ "keys" $keys) | nindent 2 }}
{{- end -}}
