{{/* Names and labels shared by every object of the chart. */}}

{{- define "httptrace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name alone when it already contains the chart name (httptrace, my-httptrace). */}}
{{- define "httptrace.fullname" -}}
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

{{- define "httptrace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "httptrace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "httptrace.labels" -}}
{{ include "httptrace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "httptrace.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "httptrace.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "httptrace.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "httptrace.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "httptrace.socket" -}}
unix://{{ .Values.agent.socketDir }}/agent.sock
{{- end }}
