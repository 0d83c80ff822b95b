{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "ott.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "ott.fullname" -}}
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

{{- define "ott.operatorName" -}}
{{- printf "%s-operator" (include "ott.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ott.poolName" -}}
{{- printf "%s-pool" (include "ott.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ott.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ott.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ott.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ott.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ott.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ott-compliance
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component (operator | pool); immutable, so kept small. */}}
{{- define "ott.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ott.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The pool runs embedded SQLite (one replica, no HPA) unless a database Secret is given. */}}
{{- define "ott.poolEmbedded" -}}
{{- if not .Values.pool.database.secretName }}true{{ end }}
{{- end }}

{{/*
Operator settings (operator/ott_operator/settings.py, camelCase keys). Derived settings come
from the rest of the values, so the operator and the chart can never disagree about the pool,
the gateway, the mesh or the image.
*/}}
{{- define "ott.operatorSettings" -}}
{{- $s := deepCopy .Values.operator.settings }}
{{- if not $s.plans }}{{ $_ := unset $s "plans" }}{{ end }}
{{- if not $s.storageClass }}{{ $_ := unset $s "storageClass" }}{{ end }}
{{- $_ := set $s "runtimeImage" (include "ott.image" .) }}
{{- $_ := set $s "imagePullPolicy" .Values.image.pullPolicy }}
{{- $_ := set $s "gatewayMode" .Values.gateway.mode }}
{{- $_ := set $s "gatewayNamespace" (ternary .Release.Namespace .Values.gateway.namespace (and (eq .Values.gateway.mode "gateway-api") .Values.gateway.createGateway)) }}
{{- $_ := set $s "gatewayName" .Values.gateway.gatewayName }}
{{- $_ := set $s "ingressClass" .Values.gateway.ingressClass }}
{{- $_ := set $s "poolNamespace" .Release.Namespace }}
{{- $_ := set $s "poolService" (include "ott.poolName" .) }}
{{- $_ := set $s "operatorNamespace" .Release.Namespace }}
{{- $_ := set $s "mesh" .Values.istio.enabled }}
{{- $_ := set $s "tracing" .Values.tracing }}
{{- toYaml $s }}
{{- end }}

{{/* OTEL_* variables of a workload ("service" is its service name); none when tracing is off. */}}
{{- define "ott.tracingEnv" -}}
{{- with .root.Values.tracing }}
{{- if .endpoint }}
- name: OTEL_SERVICE_NAME
  value: {{ $.service | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .protocol | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .samplerRatio | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod security context shared by both workloads: non-root, no privilege, RuntimeDefault. */}}
{{- define "ott.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ott.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}
