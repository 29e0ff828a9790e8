{{/*
Names. Every name that reaches the API server is derived here and valid for its kind,
also after `--set name=...`: a participant name that is not a DNS-1123 subdomain of at
most 63 characters is sanitized and suffixed with the first 8 hex digits of its sha256,
the same rule `helm nvflare prepare` applies.
*/}}

{{/* The seed's stable name: sanitized head + "-" + sha256(raw)[:8]. Input: dict raw, max. */}}
{{- define "nvflare.stableName" -}}
{{- $raw := toString .raw -}}
{{- $n := regexReplaceAll "[^a-z0-9-]" (lower $raw) "-" -}}
{{- $n = regexReplaceAll "-+" $n "-" | trimAll "-" -}}
{{- if not $n -}}{{- $n = "site" -}}{{- end -}}
{{- if not (regexMatch "^[a-z]" $n) -}}{{- $n = printf "site-%s" $n -}}{{- end -}}
{{- $head := regexReplaceAll "-+$" (trunc (int (sub .max 9)) $n) "" -}}
{{- if not $head -}}{{- $head = "site" -}}{{- end -}}
{{- printf "%s-%s" $head (trunc 8 (sha256sum $raw)) -}}
{{- end -}}

{{/* A DNS-1123 subdomain that is also a valid label value (<= 63 characters). */}}
{{- define "nvflare.objectName" -}}
{{- $raw := toString . -}}
{{- if and (le (len $raw) 63) (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $raw) -}}
{{- $raw -}}
{{- else -}}
{{- include "nvflare.stableName" (dict "raw" $raw "max" 63) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Deployment, ServiceAccount, Role and RoleBinding: the server's name, or the client's Service name. */}}
{{- define "nvflare.fullname" -}}
{{- if eq .Chart.Name "nvflare-server" -}}
{{- include "nvflare.objectName" .Values.name -}}
{{- else -}}
{{- include "nvflare.objectName" .Values.serviceName -}}
{{- end -}}
{{- end -}}

{{/* Container names are DNS-1123 labels: no dots, so `fl.example.com` becomes `fl-example-com`. */}}
{{- define "nvflare.containerName" -}}
{{- include "nvflare.fullname" . | replace "." "-" -}}
{{- end -}}

{{/* The parent Service name is fixed in the kit's comm_config.json, so it is checked, never rewritten. */}}
{{- define "nvflare.serviceName" -}}
{{- $name := toString .Values.serviceName -}}
{{- if not (and (le (len $name) 63) (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name)) -}}
{{- fail (printf "serviceName %q is not a valid Service name (DNS-1035 label, at most 63 characters); it must also match local/comm_config.json, so rerun `helm nvflare prepare` with server_service_name instead" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "nvflare.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}
{{- include "nvflare.objectName" .Values.serviceAccount.name -}}
{{- else if .Values.serviceAccount.create -}}
{{- include "nvflare.fullname" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "nvflare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nvflare.fullname" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nvflare.labels" -}}
{{ include "nvflare.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nvflare
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* repository[:tag][@digest]; the repository alone when both are empty. */}}
{{- define "nvflare.image" -}}
{{- $ref := .Values.image.repository -}}
{{- if .Values.image.tag -}}{{- $ref = printf "%s:%s" $ref (toString .Values.image.tag) -}}{{- end -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Mounts of the staged ConfigMap (local/) and Secret (startup/), read-only over the workspace. */}}
{{- define "nvflare.workspaceConfigMounts" -}}
{{- $mount := trimSuffix "/" .Values.persistence.workspace.mountPath -}}
{{- if .Values.workspaceConfig.local.configMapName }}
- name: workspace-local
  mountPath: {{ printf "%s/local" $mount | quote }}
  readOnly: true
{{- end }}
{{- if .Values.workspaceConfig.startup.secretName }}
- name: workspace-startup
  mountPath: {{ printf "%s/startup" $mount | quote }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "nvflare.workspaceConfigVolumes" -}}
{{- with .Values.workspaceConfig }}
{{- if and .namespace (ne .namespace $.Release.Namespace) }}
{{- fail (printf "startup/ and local/ were staged in namespace %q, but this release installs into %q; install with --namespace %s or stage again" .namespace $.Release.Namespace .namespace) }}
{{- end }}
{{- if .local.configMapName }}
- name: workspace-local
  configMap:
    name: {{ .local.configMapName | quote }}
    {{- with .local.items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- if .startup.secretName }}
- name: workspace-startup
  secret:
    secretName: {{ .startup.secretName | quote }}
    {{- with .startup.items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Pod-level settings a platform team sets: each rendered only when given.
*/}}
{{- define "nvflare.podPlacement" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.runtimeClassName }}
runtimeClassName: {{ . | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.initContainers }}
initContainers:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Container-level extras: environment, env sources, the container's security context.
*/}}
{{- define "nvflare.containerExtras" -}}
{{- with .Values.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.containerSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Probes of the parent container: each rendered when set (an empty map turns it off).
*/}}
{{- define "nvflare.probes" -}}
{{- with .Values.startupProbe }}
startupProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.livenessProbe }}
livenessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.readinessProbe }}
readinessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The parent's internal port: NVFlare's `port` (the client chart's name in the guide's values
reference) when set, else `parentPort`. */}}
{{- define "nvflare.parentPort" -}}
{{- if kindIs "invalid" .Values.port -}}
{{- .Values.parentPort -}}
{{- else -}}
{{- .Values.port -}}
{{- end -}}
{{- end -}}
