{{/*
Labels of every object; "component" is apiserver, controller, migrations or
judge. Selectors use codequest.selectorLabels only (stable across upgrades).
*/}}
{{- define "codequest.selectorLabels" -}}
app.kubernetes.io/name: codequest
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "codequest.labels" -}}
{{ include "codequest.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* The codequest image. */}}
{{- define "codequest.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The judge image. */}}
{{- define "codequest.judgeImage" -}}
{{ .Values.judge.image.repository }}:{{ .Values.judge.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The Secret the chart writes credentials given as values into. */}}
{{- define "codequest.secretName" -}}codequest{{- end }}

{{/* True when any credential is given as a value. */}}
{{- define "codequest.hasSecret" -}}
{{- $v := .Values -}}
{{- if or $v.database.url $v.redis.url $v.objectStorage.accessKey $v.smtp.password $v.jwt.signingKey -}}true{{- end -}}
{{- end }}

{{/*
secretKeyRef of one credential: the chart's Secret when the value is set,
else the existing Secret. Arguments: root, value, key (in the chart's
Secret), existingSecret, existingSecretKey.
*/}}
{{- define "codequest.secretKeyRef" -}}
{{- if .value -}}
{name: {{ include "codequest.secretName" .root }}, key: {{ .key }}}
{{- else -}}
{name: {{ .existingSecret }}, key: {{ .existingSecretKey }}}
{{- end -}}
{{- end }}

{{- define "codequest.databaseURLRef" -}}
{{ include "codequest.secretKeyRef" (dict "root" . "value" .Values.database.url "key" "database-url" "existingSecret" .Values.database.existingSecret "existingSecretKey" .Values.database.existingSecretKey) }}
{{- end }}

{{- define "codequest.redisURLRef" -}}
{{ include "codequest.secretKeyRef" (dict "root" . "value" .Values.redis.url "key" "redis-url" "existingSecret" .Values.redis.existingSecret "existingSecretKey" .Values.redis.existingSecretKey) }}
{{- end }}

{{- define "codequest.s3AccessKeyRef" -}}
{{ include "codequest.secretKeyRef" (dict "root" . "value" .Values.objectStorage.accessKey "key" "s3-access-key" "existingSecret" .Values.objectStorage.existingSecret "existingSecretKey" .Values.objectStorage.existingSecretKeys.accessKey) }}
{{- end }}

{{- define "codequest.s3SecretKeyRef" -}}
{{ include "codequest.secretKeyRef" (dict "root" . "value" .Values.objectStorage.accessKey "key" "s3-secret-key" "existingSecret" .Values.objectStorage.existingSecret "existingSecretKey" .Values.objectStorage.existingSecretKeys.secretKey) }}
{{- end }}

{{/* Object storage as both codequest commands take it (flags). */}}
{{- define "codequest.s3Args" -}}
- {{ printf "--s3-endpoint=%s" .Values.objectStorage.endpoint | quote }}
- {{ printf "--s3-region=%s" .Values.objectStorage.region | quote }}
- --s3-tls={{ .Values.objectStorage.tls }}
{{- end }}

{{/* Credentials of object storage (environment: never in a pod's args). */}}
{{- define "codequest.s3Env" -}}
- name: CODEQUEST_S3_ACCESS_KEY
  valueFrom: {secretKeyRef: {{ include "codequest.s3AccessKeyRef" . }}}
- name: CODEQUEST_S3_SECRET_KEY
  valueFrom: {secretKeyRef: {{ include "codequest.s3SecretKeyRef" . }}}
{{- end }}

{{/* KUBERNETES_SERVICE_HOST/PORT when set: they override the kubelet's. */}}
{{- define "codequest.kubernetesAPIEnv" -}}
{{- with .Values.kubernetesAPI.host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kubernetesAPI.port }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Pod and container security of every platform pod: the "restricted" pod
security level.
*/}}
{{- define "codequest.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "codequest.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end }}

{{/*
Host networking: the pod uses the node's network and still resolves
cluster names. A rollout then frees the port before the new pod takes it.
Arguments: the component's values.
*/}}
{{- define "codequest.hostNetwork" -}}
{{- if .hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- end }}

{{- define "codequest.strategy" -}}
{{- if .hostNetwork }}
strategy:
  type: RollingUpdate
  rollingUpdate: {maxSurge: 0, maxUnavailable: 1}
{{- else }}
strategy:
  type: RollingUpdate
  rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
{{- end }}
{{- end }}

{{/* Scheduling of a component's pods. Arguments: the component's values. */}}
{{- define "codequest.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Checks the schema cannot express: the release namespace is not the judge
namespace, and no two ports of one network namespace clash.
*/}}
{{- define "codequest.check" -}}
{{- if eq .Release.Namespace .Values.judge.namespace -}}
{{- fail (printf "judge.namespace %q is the release namespace: install the release into another namespace (helm install -n codequest-system); the chart creates the judge namespace" .Values.judge.namespace) -}}
{{- end -}}
{{- $c := .Values.controller -}}
{{- if eq ($c.metricsPort | int) ($c.healthPort | int) -}}
{{- fail (printf "controller.metricsPort and controller.healthPort are both %v" $c.metricsPort) -}}
{{- end -}}
{{- $a := .Values.apiserver -}}
{{- if and $a.hostNetwork $c.hostNetwork (has ($a.port | int) (list ($c.metricsPort | int) ($c.healthPort | int))) -}}
{{- fail (printf "apiserver.port %v is also a controller port: with host networking they share the node's ports" $a.port) -}}
{{- end -}}
{{- end }}
