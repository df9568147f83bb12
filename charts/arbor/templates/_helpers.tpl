{{/* The chart's name, or nameOverride. */}}
{{- define "arbor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<name>, or fullnameOverride; shortened so pod and service names stay valid. */}}
{{- define "arbor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "arbor.headless" -}}
{{- printf "%s-headless" (include "arbor.fullname" .) -}}
{{- end -}}

{{- define "arbor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the server pods. */}}
{{- define "arbor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arbor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Labels that select the agent pods. */}}
{{- define "arbor.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "arbor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "arbor.commonLabels" -}}
helm.sh/chart: {{ include "arbor.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of the server's objects. */}}
{{- define "arbor.labels" -}}
{{ include "arbor.commonLabels" . }}
{{ include "arbor.selectorLabels" . }}
{{- end -}}

{{/* Labels of the agent's objects. */}}
{{- define "arbor.agentLabels" -}}
{{ include "arbor.commonLabels" . }}
{{ include "arbor.agentSelectorLabels" . }}
{{- end -}}

{{- define "arbor.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The client Service's address, as a ZooKeeper connect string. */}}
{{- define "arbor.connectString" -}}
{{- printf "%s.%s.svc.%s:%d" (include "arbor.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.ports.client) -}}
{{- end -}}

{{/* Fails rendering on values that cannot work, with a message naming the value. */}}
{{- define "arbor.validate" -}}
{{- if lt (int .Values.replicas) 1 -}}
{{- fail (printf "replicas must be at least 1, got %v" .Values.replicas) -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) -}}
{{- fail "tls.enabled needs tls.existingSecret (a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and .Values.tls.admin (not .Values.tls.enabled) -}}
{{- fail "tls.admin needs tls.enabled" -}}
{{- end -}}
{{- if and .Values.tls.quorum (not .Values.tls.enabled) -}}
{{- fail "tls.quorum needs tls.enabled" -}}
{{- end -}}
{{- if not (has .Values.tls.clientAuth (list "none" "want" "need")) -}}
{{- fail (printf "tls.clientAuth must be none, want or need, got %q" .Values.tls.clientAuth) -}}
{{- end -}}
{{- if not (has .Values.antiAffinity (list "soft" "hard" "none")) -}}
{{- fail (printf "antiAffinity must be soft, hard or none, got %q" .Values.antiAffinity) -}}
{{- end -}}
{{- end -}}

{{/* http or https, for probes and scrapes of the admin port. */}}
{{- define "arbor.adminScheme" -}}
{{- if .Values.tls.admin -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}
