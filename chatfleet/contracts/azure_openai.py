"""Azure OpenAI deployment SKUs, the default api-version and the Entra scope: one definition for the CRD
(`spec.openai.deployments[]`), the router, the upstream load test and the eval judge.

Neutral ground (chatfleet.contracts), so neither the operator nor the chat service pulls in the other's
dependencies to agree on it.
"""

from typing import Literal

DEFAULT_API_VERSION = "2024-10-21"
"""The Azure OpenAI REST api-version a deployment is called with unless it names its own."""

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
"""The Entra ID scope of an Azure OpenAI call without an API key (the router's and the eval judge's)."""

DeploymentType = Literal[
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "GlobalStandard",
    "DataZoneStandard",
    "Standard",
]
