{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "vaultkube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "vaultkube.fullname" -}}
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

{{- define "vaultkube.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "vaultkube.labels" -}}
helm.sh/chart: {{ include "vaultkube.chart" . }}
{{ include "vaultkube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "vaultkube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vaultkube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Names and labels of the injector. */}}
{{- define "vaultkube.injector.fullname" -}}
{{- printf "%s-injector" (include "vaultkube.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{/* Cluster-scoped objects carry the release namespace: two releases of the same name in
different namespaces must not share (or delete) one MutatingWebhookConfiguration. */}}
{{- define "vaultkube.injector.webhookConfigName" -}}
{{- printf "%s-%s" (include "vaultkube.injector.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" -}}
{{- end -}}
{{- define "vaultkube.injector.selectorLabels" -}}
{{ include "vaultkube.selectorLabels" . }}
app.kubernetes.io/component: injector
{{- end -}}
{{- define "vaultkube.injector.labels" -}}
{{ include "vaultkube.labels" . }}
app.kubernetes.io/component: injector
{{- end -}}
{{- define "vaultkube.injector.serviceAccountName" -}}
{{- if .Values.injector.serviceAccount.create -}}
{{- default (include "vaultkube.injector.fullname" .) .Values.injector.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.injector.serviceAccount.name -}}
{{- end -}}
{{- end -}}
{{/* The injector's TLS Secret: written by the injector (auto), by cert-manager, or the user's. */}}
{{- define "vaultkube.injector.tlsSecret" -}}
{{- if eq .Values.injector.tls.mode "secret" -}}
{{- .Values.injector.tls.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "vaultkube.injector.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Names and labels of the CSI provider. */}}
{{- define "vaultkube.csi.fullname" -}}
{{- printf "%s-csi-provider" (include "vaultkube.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "vaultkube.csi.selectorLabels" -}}
{{ include "vaultkube.selectorLabels" . }}
app.kubernetes.io/component: csi-provider
{{- end -}}
{{- define "vaultkube.csi.labels" -}}
{{ include "vaultkube.labels" . }}
app.kubernetes.io/component: csi-provider
{{- end -}}
{{- define "vaultkube.csi.serviceAccountName" -}}
{{- if .Values.csi.serviceAccount.create -}}
{{- default (include "vaultkube.csi.fullname" .) .Values.csi.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.csi.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vaultkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- define "vaultkube.agentImage" -}}
{{- default (include "vaultkube.image" .) .Values.injector.agent.image -}}
{{- end -}}

{{/* Restricted Pod Security: the container part. */}}
{{- define "vaultkube.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The test pod's namespace. */}}
{{- define "vaultkube.tests.namespace" -}}
{{- default (printf "%s-vaultkube-test" .Release.Namespace | trunc 63 | trimSuffix "-") .Values.tests.namespace -}}
{{- end -}}

{{/* Namespaces the webhook never sees. */}}
{{- define "vaultkube.injector.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace -}}
{{- range .Values.injector.skipNamespaces }}{{ $ns = append $ns . }}{{ end -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{/* Checks of value combinations that the schema cannot express. */}}
{{- define "vaultkube.validate" -}}
{{- if and .Values.injector.enabled (eq .Values.injector.tls.mode "secret") -}}
{{- if not .Values.injector.tls.secret.name -}}
{{- fail "injector.tls.mode secret needs injector.tls.secret.name (a kubernetes.io/tls Secret in the release namespace)" -}}
{{- end -}}
{{- if not .Values.injector.tls.secret.caBundle -}}
{{- fail "injector.tls.mode secret needs injector.tls.secret.caBundle (base64 PEM of the CA that signed the Secret's certificate)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.csi.vaultCA.configMap .Values.csi.vaultCA.secret -}}
{{- fail "csi.vaultCA: set configMap or secret, not both" -}}
{{- end -}}
{{- end -}}
