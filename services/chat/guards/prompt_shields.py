"""Azure AI Content Safety Prompt Shields (`/contentsafety/text:shieldPrompt`) as the screen.

Auth is an Entra token from azure-identity (scope cognitiveservices) by default; the key header is an
explicit fallback and never logged. If the service fails or times out, the local detector decides
instead (and the decision names it), so an outage neither blocks every chat nor lets input through
unscreened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from chatfleet.chat.guards.decision import GuardDecision, ScreenResult, Target
from chatfleet.chat.guards.screen import LocalScreen
from chatfleet.contracts.endpoints import UPSTREAM

log = logging.getLogger(__name__)

API_VERSION = "2024-09-01"
TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"  # noqa: S105 - an OAuth scope
MAX_USER_PROMPT_CHARS = 10_000
MAX_DOCUMENT_CHARS = 10_000  # the service's limit for all documents of one call together
DOCUMENTS_PER_CALL = 5


class PromptShieldsScreen:
    name = "prompt_shields"

    def __init__(
        self,
        endpoint: str,
        *,
        api_key: str | None = None,
        credential: Any | None = None,
        fallback: LocalScreen | None = None,
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = UPSTREAM.require(endpoint.rstrip("/"), "CHATFLEET_CONTENT_SAFETY_ENDPOINT")
        self._url += f"/contentsafety/text:shieldPrompt?api-version={API_VERSION}"
        self._api_key = api_key
        self._credential = credential
        self._owns_credential = False
        if api_key is None and credential is None:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
            self._owns_credential = True
        self._fallback = fallback or LocalScreen()
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None

    async def _headers(self) -> dict[str, str]:
        if self._api_key is not None:
            return {"Ocp-Apim-Subscription-Key": self._api_key}
        assert self._credential is not None  # __init__ makes one whenever there is no key
        token = await self._credential.get_token(TOKEN_SCOPE)
        return {"Authorization": f"Bearer {token.token}"}

    async def _call(self, user_prompt: str, documents: list[str]) -> tuple[bool, list[bool]]:
        body = {"userPrompt": user_prompt[:MAX_USER_PROMPT_CHARS], "documents": documents}
        response = await self._client.post(self._url, json=body, headers=await self._headers())
        response.raise_for_status()
        data = response.json()
        user = bool(data.get("userPromptAnalysis", {}).get("attackDetected", False))
        docs = [bool(d.get("attackDetected", False)) for d in data.get("documentsAnalysis", [])]
        if len(docs) != len(documents):
            raise ValueError("Prompt Shields answered for a different number of documents")
        return user, docs

    def _decision(self, attack: bool, target: Target) -> GuardDecision:
        reasons = ("prompt_shields_attack",) if attack else ()
        return GuardDecision(attack, 1.0 if attack else 0.0, reasons, self.name, target)

    async def screen(self, user_prompt: str | None, documents: Sequence[str] = ()) -> ScreenResult:
        try:
            budget = MAX_DOCUMENT_CHARS // DOCUMENTS_PER_CALL
            batches = [
                [d[:budget] for d in documents[i : i + DOCUMENTS_PER_CALL]]
                for i in range(0, len(documents), DOCUMENTS_PER_CALL)
            ] or [[]]
            # The user prompt goes with the first call only; the calls run at once, not one after another.
            answers = await asyncio.gather(
                *(self._call(user_prompt or "" if n == 0 else "", batch) for n, batch in enumerate(batches))
            )
            user_attack = answers[0][0]
            doc_attacks = [attack for _, docs in answers for attack in docs]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("Prompt Shields unavailable (%s); the local detector decides", type(exc).__name__)
            return await self._fallback.screen(user_prompt, documents)
        user = self._decision(user_attack, "user") if user_prompt is not None else None
        return ScreenResult(user, tuple(self._decision(a, "document") for a in doc_attacks))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
        if self._owns_credential and self._credential is not None:
            await self._credential.close()
