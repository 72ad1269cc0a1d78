{{/*
Labels. Object names are fixed (pullwatch, pullwatch-controller ...), as in the kustomize base:
the agent's and the controller's defaults, the admission policy and the RBAC resourceNames
name them. app.kubernetes.io/name tells the agent (pullwatch) from the controller
(pullwatch-controller), as in manifests/base.
*/}}
{{- define "pullwatch.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: pullwatch
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{- define "pullwatch.agent.labels" -}}
{{ include "pullwatch.labels" (dict "root" . "name" "pullwatch" "component" "agent") }}
{{- end }}

{{- define "pullwatch.controller.labels" -}}
{{ include "pullwatch.labels" (dict "root" . "name" "pullwatch-controller" "component" "controller") }}
{{- end }}

{{- define "pullwatch.monitoring.labels" -}}
{{ include "pullwatch.labels" (dict "root" . "name" "pullwatch" "component" "monitoring") }}
{{- end }}

{{/*
The agents' selector: name + instance only. A DaemonSet's selector cannot change, and 0.1.0
shipped this one (manifests/base/daemonset.yaml says why no component label).
*/}}
{{- define "pullwatch.agent.selector" -}}
app.kubernetes.io/name: pullwatch
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pullwatch.controller.selector" -}}
app.kubernetes.io/name: pullwatch-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "pullwatch.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The runtime's socket, the kubelet's root and where the kubelet keeps its configuration file and
drop-in directory: the preset's (the kustomize components in manifests/components/crio, k3s,
microk8s; containerd is the base), unless overridden. An empty kubelet file or directory: none
on that distribution (k3s has no file, MicroK8s configures its kubelet with flags only). As JSON,
for `fromJson`.
*/}}
{{- define "pullwatch.runtime" -}}
{{- $kubeadm := dict "kubeletConfigFile" "/var/lib/kubelet/config.yaml" "kubeletConfigDir" "/etc/kubernetes/kubelet.conf.d" "kubeletRoot" "/var/lib/kubelet" -}}
{{- $presets := dict
  "containerd" (merge (dict "criSocket" "/run/containerd/containerd.sock") $kubeadm)
  "crio" (merge (dict "criSocket" "/var/run/crio/crio.sock") $kubeadm)
  "k3s" (dict "criSocket" "/run/k3s/containerd/containerd.sock" "kubeletRoot" "/var/lib/kubelet" "kubeletConfigFile" "" "kubeletConfigDir" "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d")
  "rke2" (dict "criSocket" "/run/k3s/containerd/containerd.sock" "kubeletRoot" "/var/lib/kubelet" "kubeletConfigFile" "" "kubeletConfigDir" "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d")
  "microk8s" (dict "criSocket" "/var/snap/microk8s/common/run/containerd.sock" "kubeletRoot" "/var/snap/microk8s/common/var/lib/kubelet" "kubeletConfigFile" "" "kubeletConfigDir" "")
-}}
{{- $preset := get $presets .Values.runtime.preset -}}
{{- $socket := .Values.runtime.criSocket | default $preset.criSocket -}}
{{- $kubeletConfig := .Values.agent.kubeletConfig -}}
{{- dict
  "criSocket" $socket
  "socketDir" (dir $socket)
  "kubeletRoot" (.Values.runtime.kubeletRoot | default $preset.kubeletRoot)
  "kubeletConfigFile" (ternary ($kubeletConfig.file | default $preset.kubeletConfigFile) "" $kubeletConfig.enabled)
  "kubeletConfigDir" (ternary ($kubeletConfig.dir | default $preset.kubeletConfigDir) "" $kubeletConfig.enabled)
  | toJson -}}
{{- end }}

{{/*
A settings file: the kustomize base's (files/, linked to manifests/base/) as it is when nothing
is set, else its settings with `overrides` written over them. A setting is written only when
it differs from the program's default, so that a default install is the base's, byte for byte.
*/}}
{{- define "pullwatch.settingsFile" -}}
{{- if .overrides -}}
{{ mergeOverwrite (.root.Files.Get .file | fromYaml) .overrides | toYaml }}
{{- else -}}
{{ .root.Files.Get .file }}
{{- end -}}
{{- end }}

{{- define "pullwatch.agent.settings" -}}
{{- $overrides := deepCopy .Values.agent.config -}}
{{- if not .Values.events.enabled -}}
{{- $_ := set $overrides "events" "off" -}}
{{- end -}}
{{- if ne .Values.reports.output "openreports" -}}
{{- $_ := set $overrides "reports" .Values.reports.output -}}
{{- end -}}
{{ include "pullwatch.settingsFile" (dict "root" . "file" "files/agent-config.yaml" "overrides" $overrides) }}
{{- end }}

{{- define "pullwatch.controller.settings" -}}
{{- $overrides := deepCopy .Values.controller.config -}}
{{- if ne .Values.webhook.mode "warn" -}}
{{- $_ := set $overrides "prevention" .Values.webhook.mode -}}
{{- end -}}
{{- if ne .Values.reports.output "openreports" -}}
{{- $_ := set $overrides "reports" .Values.reports.output -}}
{{- end -}}
{{ include "pullwatch.settingsFile" (dict "root" . "file" "files/controller-config.yaml" "overrides" $overrides) }}
{{- end }}

{{/*
Objects rendered from a file of the kustomize base (files/, links to manifests/base/): the
RBAC and the admission policy, which take no values, so that their rules and CEL exist once.
The chart sets what kustomize's transformers set there: labels, the release namespace on
namespaced objects and on ServiceAccount subjects. `without`: resources whose rules are left
out. Arguments: root, file, labels (the name of a labels template), without.
*/}}
{{- define "pullwatch.fromBase" -}}
{{- $root := .root -}}
{{- $without := .without | default list -}}
{{- $clusterScoped := list "ClusterRole" "ClusterRoleBinding" "ValidatingAdmissionPolicy" "ValidatingAdmissionPolicyBinding" -}}
{{- range $document := splitList "\n---\n" ($root.Files.Get $.file) }}
{{- $object := fromYaml $document }}
{{- if $object }}
{{- $_ := set $object.metadata "labels" (include $.labels $root | fromYaml) }}
{{- if not (has $object.kind $clusterScoped) }}
{{- $_ := set $object.metadata "namespace" $root.Release.Namespace }}
{{- end }}
{{- range $object.subjects | default list }}
{{- if eq .kind "ServiceAccount" }}
{{- $_ := set . "namespace" $root.Release.Namespace }}
{{- end }}
{{- end }}
{{- if hasKey $object "rules" }}
{{- $rules := list }}
{{- range $object.rules }}
{{- if not (has (first (.resources | default (list ""))) $without) }}
{{- $rules = append $rules . }}
{{- end }}
{{- end }}
{{- $_ := set $object "rules" $rules }}
{{- end }}
---
{{ toYaml $object }}
{{- end }}
{{- end }}
{{- end }}
