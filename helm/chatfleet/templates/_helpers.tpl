{{/*
Names, labels and the cross-field checks shared by every template.
*/}}

{{- define "chatfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name; 52 characters leave room for the longest suffix. */}}
{{- define "chatfleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "chatfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chatfleet.labels" -}}
helm.sh/chart: {{ include "chatfleet.chart" . }}
app.kubernetes.io/name: {{ include "chatfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatfleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "chatfleet.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "chatfleet.operator.labels" -}}
{{ include "chatfleet.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "chatfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chatfleet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: set the name of an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag@digest of an image value; the digest pins the image when given. */}}
{{- define "chatfleet.image" -}}
{{- $img := .image -}}
{{- $repo := $img.repository -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $img.repository }}{{ end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .appVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "chatfleet.operator.image" -}}
{{- include "chatfleet.image" (dict "image" .Values.operator.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "chatfleet.loadtest.image" -}}
{{- include "chatfleet.image" (dict "image" .Values.operator.loadtestImage "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/* True ("true") when the operator watches every namespace. */}}
{{- define "chatfleet.clusterWide" -}}
{{- if empty .Values.operator.watchNamespaces }}true{{ end -}}
{{- end -}}
