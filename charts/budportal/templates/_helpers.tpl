{{/* Chart name, overridable with nameOverride. */}}
{{- define "budportal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name when it already contains the chart name, else <release>-<chart>.
Truncated to 56 characters so that the "-worker" / "-migrate" suffixes still fit a 63-character DNS label.
*/}}
{{- define "budportal.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "budportal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "budportal.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Labels shared by every object; callers add app.kubernetes.io/component. */}}
{{- define "budportal.labels" -}}
helm.sh/chart: {{ include "budportal.chart" . }}
{{ include "budportal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: budportal
{{- end }}

{{- define "budportal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "budportal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The Secret the pods read their settings from: an existing one, or the one this chart creates. */}}
{{- define "budportal.secretName" -}}
{{- .Values.secret.existingSecret | default (include "budportal.fullname" .) }}
{{- end }}

{{/* Fail early, with a message, when neither an existing Secret nor the required settings are given. */}}
{{- define "budportal.checkSecret" -}}
{{- if not .Values.secret.existingSecret }}
{{- $_ := required "secret.secretKey is required (or set secret.existingSecret)" .Values.secret.secretKey }}
{{- $_ := required "secret.databaseUrl is required: workers on several machines share one PostgreSQL (or set secret.existingSecret)" .Values.secret.databaseUrl }}
{{- if .Values.metrics.enabled }}
{{- $_ := required "secret.metricsToken is required when metrics.enabled (or set secret.existingSecret with METRICS_TOKEN)" .Values.secret.metricsToken }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secret data, shared by the release's Secret and the migration hook's own copy. */}}
{{- define "budportal.secretData" -}}
SECRET_KEY: {{ .Values.secret.secretKey | b64enc | quote }}
DATABASE_URL: {{ .Values.secret.databaseUrl | b64enc | quote }}
{{- with .Values.secret.redisUrl }}
REDIS_URL: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.kubeconfigEncryptionKey }}
KUBECONFIG_ENCRYPTION_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.metricsToken }}
METRICS_TOKEN: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Environment of every container: settings from the Secret (named by the argument's "secret"), the rest plain.
REDIS_URL and KUBECONFIG_ENCRYPTION_KEY are optional keys of an existing Secret.
*/}}
{{- define "budportal.env" -}}
{{- $root := .root }}
{{- range $key := list "SECRET_KEY" "DATABASE_URL" "REDIS_URL" "KUBECONFIG_ENCRYPTION_KEY" "METRICS_TOKEN" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secret }}
      key: {{ $key }}
      {{- if has $key (list "REDIS_URL" "KUBECONFIG_ENCRYPTION_KEY" "METRICS_TOKEN") }}
      optional: true
      {{- end }}
{{- end }}
- name: DEBUG
  value: "false"
- name: ALLOWED_HOSTS
  value: {{ $root.Values.settings.allowedHosts | quote }}
- name: CSRF_TRUSTED_ORIGINS
  value: {{ $root.Values.settings.csrfTrustedOrigins | quote }}
- name: SECURE_SSL_REDIRECT
  value: {{ $root.Values.settings.secureSslRedirect | quote }}
- name: SECURE_HSTS_SECONDS
  value: {{ $root.Values.settings.hstsSeconds | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.settings.logLevel | quote }}
- name: TRUSTED_PROXIES
  value: {{ $root.Values.settings.trustedProxies | quote }}
# The root filesystem is read-only: helm's cache/config and temporary kubeconfigs go to the /tmp volume.
- name: HOME
  value: /tmp
- name: BUDPORTAL_DATA_DIR
  value: /tmp/budportal
{{- if $root.Values.metrics.enabled }}
# prometheus-client's multiprocess mode: every process of the pod writes its samples here (the /tmp volume).
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/prometheus
{{- end }}
{{- range $name, $value := merge (.extra | default dict) $root.Values.settings.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Pod-level security: never root, the runtime's default seccomp profile. */}}
{{- define "budportal.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security: no privilege escalation, no capabilities, read-only root (writable paths are volumes). */}}
{{- define "budportal.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Requests from resources.cpu / resources.memory of the given block; memory is also the limit. */}}
{{- define "budportal.resources" -}}
requests:
  cpu: {{ .cpu | quote }}
  memory: {{ .memory | quote }}
limits:
  memory: {{ .memory | quote }}
{{- end }}

{{/* Scheduling and pull settings shared by every pod of this chart. */}}
{{- define "budportal.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod metadata: a checksum of the settings restarts pods when they change. */}}
{{- define "budportal.podMetadata" -}}
{{- $root := .root -}}
annotations:
  checksum/secret: {{ include "budportal.secretData" $root | sha256sum }}
  checksum/settings: {{ toJson $root.Values.settings | sha256sum }}
  {{- if and .metrics $root.Values.metrics.enabled $root.Values.metrics.annotations }}
  prometheus.io/scrape: "true"
  prometheus.io/path: /metrics
  prometheus.io/port: {{ $root.Values.metrics.port | quote }}
  {{- end }}
  {{- with $root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
labels:
  {{- include "budportal.labels" $root | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
  {{- with $root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Container fields shared by web, worker and migrations: image, settings, security, the /tmp volume. */}}
{{- define "budportal.containerCommon" -}}
image: {{ include "budportal.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
env:
  {{- include "budportal.env" . | trim | nindent 2 }}
resources:
  {{- include "budportal.resources" .resources | nindent 2 }}
securityContext:
  {{- include "budportal.containerSecurityContext" .root | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/*
The metrics-server container of a web or worker pod: the pod's multiprocess samples on the "metrics" port,
bearer-token protected. A port of its own, not the web server's /metrics: a scrape by pod IP would fail ALLOWED_HOSTS
and the HTTPS redirect. Web pods (database=true) also report the gauges counted in the database.
*/}}
{{- define "budportal.metricsContainer" -}}
{{- $root := .root }}
{{- if $root.Values.metrics.enabled }}
- name: metrics
  command: ["python", "manage.py", "metrics_server", "--port", {{ $root.Values.metrics.port | quote }}{{ if .database }}, "--database"{{ end }}]
  ports:
    - name: metrics
      containerPort: {{ $root.Values.metrics.port }}
      protocol: TCP
  {{- include "budportal.containerCommon" (dict "root" $root "secret" (include "budportal.secretName" $root) "resources" $root.Values.metrics.resources "extra" (dict)) | nindent 2 }}
{{- end }}
{{- end }}
