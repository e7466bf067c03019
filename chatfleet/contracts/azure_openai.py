"""Azure OpenAI deployment SKUs and the default api-version: one definition for the CRD
(`spec.openai.deployments[]`), the router and the upstream load test.

Neutral ground (chatfleet.contracts), so neither the operator nor the chat service pulls in the other's
dependencies to agree on it.
"""

from typing import Literal

DEFAULT_API_VERSION = "2024-10-21"
"""The Azure OpenAI REST api-version a deployment is called with unless it names its own."""

DeploymentType = Literal[
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "GlobalStandard",
    "DataZoneStandard",
    "Standard",
]
