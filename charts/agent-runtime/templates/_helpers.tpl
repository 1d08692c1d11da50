{{/* Chart name, overridable with nameOverride. */}}
{{- define "agent-runtime.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name when it already contains the chart name, else <release>-<chart>.
Truncated to 63 characters because some Kubernetes name fields are limited to that (DNS label).
*/}}
{{- define "agent-runtime.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agent-runtime.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agent-runtime.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "agent-runtime.labels" -}}
helm.sh/chart: {{ include "agent-runtime.chart" . }}
{{ include "agent-runtime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ include "agent-runtime.component" . }}
{{- end }}

{{- define "agent-runtime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-runtime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Pod-level security: never root, the runtime's default seccomp profile. */}}
{{- define "agent-runtime.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security: no privilege escalation, no capabilities, read-only root (writable paths are volumes). */}}
{{- define "agent-runtime.containerSecurityContext" -}}
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

{{/* Requests from the simple resources.cpu / resources.memory values; memory is also the limit. */}}
{{- define "agent-runtime.resources" -}}
requests:
  cpu: {{ .Values.resources.cpu | quote }}
  memory: {{ .Values.resources.memory | quote }}
limits:
  memory: {{ .Values.resources.memory | quote }}
  {{- if gt (int (.Values.resources.gpu | default 0)) 0 }}
  nvidia.com/gpu: {{ .Values.resources.gpu | quote }}
  {{- end }}
{{- end }}

{{/* Scheduling and pull settings shared by every pod of this chart. */}}
{{- define "agent-runtime.podScheduling" -}}
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

{{- define "agent-runtime.component" -}}
agent
{{- end }}

{{/* The probe action: HTTP on healthPath, or a TCP connect when no health path is configured. */}}
{{- define "agent-runtime.probeAction" -}}
{{- if .Values.healthPath }}
httpGet:
  path: {{ .Values.healthPath | quote }}
  port: http
{{- else }}
tcpSocket:
  port: http
{{- end }}
{{- end }}
