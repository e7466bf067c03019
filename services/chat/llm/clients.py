"""SDK clients for the pool: one `AsyncAzureOpenAI` per deployment, authenticated with Entra ID (workload
identity in AKS, DefaultAzureCredential elsewhere) unless the deployment carries an explicit API key.

SDK retries are off (`max_retries=0`): the router retries across deployments with its own deadline, and
SDK retries would hide 429s from the cooldown logic. The SDK's aiohttp transport is used because, with
hundreds of concurrent streams, httpx's connection pool costs more CPU than the rest of a stream.
"""

import functools
import inspect
import ssl
from typing import Any

import httpx2
from openai import AsyncAzureOpenAI, DefaultAioHttpClient

from chatfleet.chat.llm.config import DeploymentConfig
from chatfleet.contracts.azure_openai import COGNITIVE_SERVICES_SCOPE


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The SDK's default TLS context (system CAs, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), built once: each
    client would otherwise load the CA store itself, ~70 ms of CPU that stalls the event loop."""
    return httpx2.create_ssl_context()


class ClientPool:
    """Builds and owns the SDK clients; creates a DefaultAzureCredential lazily, only if a key-less
    deployment needs one, and closes what it created."""

    def __init__(self, credential: Any = None) -> None:
        self._credential = credential
        self._owns_credential = False
        self._token_provider: Any = None
        self.clients: dict[str, AsyncAzureOpenAI] = {}

    def _bearer_token_provider(self) -> Any:
        if self._token_provider is not None:
            return self._token_provider
        if self._credential is None:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
            self._owns_credential = True
        if inspect.iscoroutinefunction(getattr(self._credential, "get_token", None)):
            from azure.identity.aio import get_bearer_token_provider as async_provider

            self._token_provider = async_provider(self._credential, COGNITIVE_SERVICES_SCOPE)
        else:
            from azure.identity import get_bearer_token_provider as sync_provider

            self._token_provider = sync_provider(self._credential, COGNITIVE_SERVICES_SCOPE)
        return self._token_provider

    def client_for(self, config: DeploymentConfig, timeout_s: float) -> AsyncAzureOpenAI:
        client = self.clients.get(config.name)
        if client is not None:
            return client
        auth: dict[str, Any]
        if config.api_key is not None:
            auth = {"api_key": config.api_key.get_secret_value()}
        else:
            auth = {"azure_ad_token_provider": self._bearer_token_provider()}
        client = AsyncAzureOpenAI(
            azure_endpoint=config.endpoint,
            azure_deployment=config.deployment,
            api_version=config.api_version,
            max_retries=0,
            timeout=timeout_s,
            http_client=DefaultAioHttpClient(timeout=timeout_s, verify=tls_context()),
            **auth,
        )
        self.clients[config.name] = client
        return client

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
        if self._owns_credential and self._credential is not None:
            await self._credential.close()
