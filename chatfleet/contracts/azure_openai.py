"""Azure OpenAI deployment SKUs: one list for the CRD (`spec.openai.deployments[].type`) and the router.

Neutral ground (chatfleet.contracts), so neither the operator nor the chat service pulls in the other's
dependencies to agree on it.
"""

from typing import Literal

DeploymentType = Literal[
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "GlobalStandard",
    "DataZoneStandard",
    "Standard",
]
