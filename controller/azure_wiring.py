"""What Azure needs to trust the app's pods, computed for the status so the platform team can set it up:
the federated credential (the ServiceAccount's subject and the cluster's OIDC issuer, with the exact
`az` line) and the role assignments the configured services need. Pure: the issuer is read once by the
operator at start-up (`KubeClient.oidc_issuer`), everything else comes from the resource."""

from __future__ import annotations

import shlex

from chatfleet.controller.spec import AzureWiringStatus, ChatApplication

# The audience Entra ID expects in a projected ServiceAccount token (AKS workload identity).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - a public audience, not a secret
# When the operator could not read the issuer: the command still works, asking AKS for it.
ISSUER_PLACEHOLDER = (
    '"$(az aks show -g <cluster-rg> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv)"'
)


def subject(app: ChatApplication) -> str:
    """The `sub` of the pods' tokens: their ServiceAccount is named like the app."""
    return f"system:serviceaccount:{app.metadata.namespace}:{app.metadata.name}"


def role_assignments(app: ChatApplication) -> list[str]:
    """Roles the identity needs on the resources the spec names (data plane only, least privilege)."""
    spec = app.spec
    endpoints = ", ".join(sorted({d.endpoint for d in spec.openai.deployments}))
    roles = [f"Cognitive Services OpenAI User on {endpoints}"]
    if spec.search:
        roles.append(f"Search Index Data Reader on {spec.search.endpoint} (index {spec.search.index})")
    if spec.guards.mode == "promptShields" and spec.guards.content_safety_endpoint:
        roles.append(f"Cognitive Services User on {spec.guards.content_safety_endpoint} (Prompt Shields)")
    return roles


def wiring(app: ChatApplication, oidc_issuer: str | None) -> AzureWiringStatus:
    client_id = app.spec.identity.client_id
    lookup = f"az identity list --query \"[?clientId=='{client_id}'].{{field}} | [0]\" -o tsv"
    command = " ".join(
        [
            "az identity federated-credential create",
            f"--name {shlex.quote(f'chatfleet-{app.metadata.namespace}-{app.metadata.name}')}",
            f'--identity-name "$({lookup.format(field="name")})"',
            f'--resource-group "$({lookup.format(field="resourceGroup")})"',
            f"--issuer {shlex.quote(oidc_issuer) if oidc_issuer else ISSUER_PLACEHOLDER}",
            f"--subject {shlex.quote(subject(app))}",
            f"--audience {TOKEN_EXCHANGE_AUDIENCE}",
        ]
    )
    return AzureWiringStatus(
        client_id=client_id,
        service_account_subject=subject(app),
        oidc_issuer=oidc_issuer,
        federated_credential_command=command,
        role_assignments=role_assignments(app),
    )
