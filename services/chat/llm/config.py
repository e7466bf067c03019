"""One Azure OpenAI deployment of the router's pool, as app teams declare it in `spec.openai.deployments`
(camelCase accepted) or in the `CHATFLEET_OPENAI_DEPLOYMENTS` JSON list.
"""

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION, DeploymentType
from chatfleet.contracts.endpoints import UPSTREAM

DEPLOYMENTS_ENV = "CHATFLEET_OPENAI_DEPLOYMENTS"


class DeploymentConfig(BaseModel):
    """Where to call (endpoint + deployment), how much to prefer it (priority, weight) and its quota."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    endpoint: str = Field(min_length=1)
    deployment: str = Field(min_length=1)
    type: DeploymentType = "Standard"
    priority: int = Field(1, ge=0, le=100)
    weight: int = Field(100, ge=1, le=1000)
    tokens_per_minute: int | None = Field(None, ge=1, alias="tokensPerMinute")
    api_version: str = Field(DEFAULT_API_VERSION, alias="apiVersion", min_length=1)
    api_key: SecretStr | None = Field(
        None, alias="apiKey", description="Explicit fallback; Entra ID otherwise."
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, value: str) -> str:
        """The CRD's rule for `spec.openai.deployments[].endpoint` (chatfleet.contracts.endpoints)."""
        if not UPSTREAM.allows(value):
            raise ValueError(UPSTREAM.message)
        return value.rstrip("/")

    @property
    def is_provisioned(self) -> bool:
        return "Provisioned" in self.type


_POOL = TypeAdapter(list[DeploymentConfig])


def parse_deployments(json_text: str) -> list[DeploymentConfig]:
    """Validates a JSON list of deployments; the error names the entry and field at fault."""
    try:
        pool = _POOL.validate_json(json_text)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ValueError(f"{DEPLOYMENTS_ENV}[{where}]: {problem['msg']}") from None
    check_pool(pool)
    return pool


def check_pool(pool: list[DeploymentConfig]) -> None:
    if not pool:
        raise ValueError(f"{DEPLOYMENTS_ENV}: at least one deployment is required")
    names = [deployment.name for deployment in pool]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{DEPLOYMENTS_ENV}: deployment names must be unique, repeated: {', '.join(duplicates)}"
        )


def deployments_from_env(environ: dict[str, str] | None = None) -> list[DeploymentConfig]:
    environ = dict(os.environ) if environ is None else environ
    text = environ.get(DEPLOYMENTS_ENV)
    if not text:
        raise ValueError(f"{DEPLOYMENTS_ENV} is not set (a JSON list of deployments)")
    return parse_deployments(text)
