{{/* Names and labels shared by every template. */}}

{{- define "skiff.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "skiff.fullname" -}}
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

{{/* Resource name of one component: <fullname>-<component>, within 63 characters. */}}
{{- define "skiff.componentName" -}}
{{- printf "%s-%s" (include "skiff.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select one component's pods; never change them in an upgrade. */}}
{{- define "skiff.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skiff.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "skiff.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "skiff.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: skiff
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: the digest wins, the tag defaults to appVersion. */}}
{{- define "skiff.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context shared by every pod. */}}
{{- define "skiff.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
fsGroup: {{ .Values.security.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context shared by every container. */}}
{{- define "skiff.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The model service's port. */}}
{{- define "skiff.modelPort" -}}
{{- .Values.model.server.port -}}
{{- end -}}

{{/* Probe paths per engine: vLLM has /health only (it answers once the model is loaded). */}}
{{- define "skiff.readyPath" -}}
{{- if eq .Values.model.engine "vllm" }}/health{{ else }}/ready{{ end -}}
{{- end -}}

{{/* The in-cluster URL of the model service's OpenAI API. */}}
{{- define "skiff.modelURL" -}}
{{- printf "http://%s.%s.svc:%v/v1" (include "skiff.componentName" (dict "root" . "component" "model")) .Release.Namespace .Values.model.service.port -}}
{{- end -}}

{{/* The pod's termination grace period: preStop sleep + the server's drain + a margin. */}}
{{- define "skiff.modelTerminationGrace" -}}
{{- add .Values.model.lifecycle.preStopSleepSeconds .Values.model.server.gracePeriodSeconds .Values.model.lifecycle.terminationMarginSeconds -}}
{{- end -}}

{{/* Name of the claim the weights cache lives on. */}}
{{- define "skiff.cacheClaim" -}}
{{- default (include "skiff.componentName" (dict "root" . "component" "model-cache")) .Values.model.cache.existingClaim -}}
{{- end -}}
