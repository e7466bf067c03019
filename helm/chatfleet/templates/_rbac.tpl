{{/*
The operator's permissions, one role per concern, verbs only for the kinds it manages. rbac.yaml renders
each concern as a ClusterRole + ClusterRoleBinding (cluster-wide) or as a Role + RoleBinding in every
watched namespace. Writes go through server-side apply (PATCH); `create` is still needed because an apply
that creates an object is authorized as a create as well.
*/}}
{{- define "chatfleet.rbac.concerns" -}}
chatapplications:
  # Watch apps, patch kopf's finalizer/annotations on them, and write their status.
  - apiGroups: [chatfleet.dev]
    resources: [chatapplications]
    verbs: [get, list, watch, patch, update]
  - apiGroups: [chatfleet.dev]
    resources: [chatapplications/status]
    verbs: [get, patch, update]
workloads:
  # The chat service itself: its Deployment (stable and canary), Service, ServiceAccount and settings.
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch, create, patch, update, delete]
  - apiGroups: [""]
    resources: [services, serviceaccounts, configmaps]
    verbs: [get, list, watch, create, patch, update, delete]
network:
  # The per-app default-deny NetworkPolicy and the optional HTTPS entry (Ingress or Gateway API HTTPRoute).
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies, ingresses]
    verbs: [get, list, watch, create, patch, update, delete]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [httproutes]
    verbs: [get, list, watch, create, patch, update, delete]
autoscaling:
  # The per-app HorizontalPodAutoscaler and PodDisruptionBudget.
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [get, list, watch, create, patch, update, delete]
  - apiGroups: [policy]
    resources: [poddisruptionbudgets]
    verbs: [get, list, watch, create, patch, update, delete]
loadtests:
  # The gated rollout's load-test Job; its pods are only read (the verdict is in their termination message).
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [get, list, watch, create, patch, update, delete]
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch]
events:
  # Kubernetes Events for notable transitions (kopf posts through the core API).
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
  - apiGroups: [events.k8s.io]
    resources: [events]
    verbs: [create, patch]
peering:
  # kopf peering: see the other replicas and announce itself (the chart creates the objects).
{{- if include "chatfleet.clusterWide" . }}
  - apiGroups: [kopf.dev]
    resources: [clusterkopfpeerings]
    verbs: [get, list, watch, patch]
{{- else }}
  - apiGroups: [kopf.dev]
    resources: [kopfpeerings]
    verbs: [get, list, watch, patch]
{{- end }}
{{- end -}}
