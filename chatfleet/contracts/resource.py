"""Where the ChatApplication resource lives in the Kubernetes API: group, version, kind and plural.

The CRD generator, the operator's watch and API door, the local stack and the tests address the resource
by these names; the Helm chart's RBAC rules spell them in YAML, and its tests compare against these.
"""

GROUP = "chatfleet.dev"
VERSION = "v1alpha1"
KIND = "ChatApplication"
PLURAL = "chatapplications"
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"
