"""LLM-as-judge scores: an Azure OpenAI deployment rates each answer's groundedness and relevance on Azure
AI evaluation's 1-5 rubric, with the judge prompts of the prompt library (chatfleet/prompts/judge/).

Optional and separate from the deterministic metrics, which never need a model. A judge call is retried
(429 after its Retry-After, 5xx, timeouts, output that is not a rating); a case still without a rating is
*unscored*: reported with the reason and left out of the mean, never given a score. Credentials refused,
a deployment that does not exist or an endpoint that never answers stop the run (JudgeUnavailable): no
verdict about judge scores is possible then.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from azure.core.exceptions import ClientAuthenticationError

from chatfleet.contracts.azure_openai import COGNITIVE_SERVICES_SCOPE, DEFAULT_API_VERSION
from chatfleet.contracts.citations import source_line
from chatfleet.contracts.endpoints import UPSTREAM
from chatfleet.contracts.evaluation import JUDGE_METRICS, JUDGE_SCALE
from chatfleet.eval.client import RetrievedSource
from chatfleet.prompts.templates import JUDGE_DIR, JUDGE_TEMPLATES, PromptTemplate, load_folder, select

ATTEMPTS = 3  # per rating: the first call and two retries
MAX_RETRY_WAIT_S = 10.0
CALL_TIMEOUT_S = 60.0
MAX_OUTPUT_TOKENS = 800
API_KEY_ENV = "CHATFLEET_JUDGE_API_KEY"  # the CLI's --judge-api-key variable, named in errors

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


class JudgeOutputError(ValueError):
    """The judge's reply is not a rating: no JSON object, no integer score on the rubric's scale."""


class JudgeUnavailable(RuntimeError):
    """The judge cannot rate anything (credentials refused, no such deployment, endpoint unreachable)."""


@dataclass(frozen=True)
class JudgeSettings:
    """Where the judge runs: an Azure OpenAI endpoint and deployment, authenticated with Entra ID
    (DefaultAzureCredential: workload identity in a pod, `az login` on a laptop) unless an API key is set."""

    endpoint: str
    deployment: str
    api_version: str = DEFAULT_API_VERSION
    api_key: str | None = None

    def __post_init__(self) -> None:
        UPSTREAM.require(self.endpoint, "--judge-endpoint")
        if not self.deployment.strip():
            raise ValueError("--judge-deployment must name a deployment")


@dataclass(frozen=True)
class Rating:
    """One judge rating of one case: `score` on the rubric, or `error` saying why it stayed unscored."""

    score: int | None
    reason: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.score is None:
            return {"score": None, "error": self.error}
        return {"score": self.score, "reason": self.reason}


def parse_rating(text: str | None) -> tuple[int, str]:
    """(score, reason) from the judge's reply: one JSON object (a Markdown code fence around it is
    tolerated) with an integer `score` on the rubric's scale; anything else raises JudgeOutputError."""
    body = _FENCE.sub("", (text or "").strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise JudgeOutputError(f"no JSON object in the judge's reply: {_excerpt(text)}")
    try:
        data = json.loads(body[start : end + 1])
    except ValueError:
        raise JudgeOutputError(f"the judge's reply is not valid JSON: {_excerpt(text)}") from None
    if not isinstance(data, dict):
        raise JudgeOutputError(f"the judge's reply is not a JSON object: {_excerpt(text)}")
    score = data.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score.strip())
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    low, high = JUDGE_SCALE
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise JudgeOutputError(f"score {score!r} is not an integer from {low} to {high}")
    reason = data.get("reason")
    return score, reason.strip() if isinstance(reason, str) else ""


def _excerpt(text: str | None, limit: int = 80) -> str:
    shown = " ".join((text or "").split())
    return repr(shown[:limit] + ("..." if len(shown) > limit else ""))


def conversation_text(history: Sequence[Mapping[str, str]], question: str) -> str:
    """The QUERY the judge sees: the question alone, or one `role: text` line per earlier turn before it."""
    if not history:
        return question
    lines = [f"{turn['role']}: {' '.join(turn['content'].split())}" for turn in history]
    return "\n".join([*lines, f"user: {question}"])


def context_text(retrieved: Sequence[RetrievedSource]) -> str:
    """The CONTEXT: the sources the answer was given, as the answer prompt lists them (`[id]: text`)."""
    return "\n".join(source_line(r.id, " ".join(r.content.split())) for r in retrieved)


def _retry_after(error: openai.APIStatusError) -> float:
    headers = error.response.headers
    try:
        if "retry-after-ms" in headers:
            return min(MAX_RETRY_WAIT_S, max(0.1, float(headers["retry-after-ms"]) / 1000))
        return min(MAX_RETRY_WAIT_S, max(0.1, float(headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


class Judge:
    """Rates answers with the judge prompts through one deployment; one instance per run."""

    def __init__(self, settings: JudgeSettings, client: openai.AzureOpenAI | None = None) -> None:
        self.settings = settings
        _, selected = select(load_folder(JUDGE_DIR), required=JUDGE_TEMPLATES)
        # the library's judge prompt ids are the metrics' names
        self.prompts: dict[str, PromptTemplate] = {metric: selected[metric] for metric in JUDGE_METRICS}
        self._client = client or self._new_client(settings)
        self._sleep = time.sleep

    @staticmethod
    def _new_client(settings: JudgeSettings) -> openai.AzureOpenAI:
        auth: dict[str, Any]
        if settings.api_key:
            auth = {"api_key": settings.api_key}
        else:
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider

            provider = get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE)
            auth = {"azure_ad_token_provider": provider}
        # SDK retries off: the judge retries itself, so a 429 is counted and reported, not hidden.
        return openai.AzureOpenAI(
            azure_endpoint=settings.endpoint,
            azure_deployment=settings.deployment,
            api_version=settings.api_version,
            max_retries=0,
            timeout=CALL_TIMEOUT_S,
            **auth,
        )

    def describe(self) -> dict[str, Any]:
        """What judged, for the report: deployment, endpoint, api-version and the prompt versions."""
        return {
            "deployment": self.settings.deployment,
            "endpoint": self.settings.endpoint,
            "apiVersion": self.settings.api_version,
            "prompts": {p.id: p.version for p in self.prompts.values()},
        }

    def rate_case(
        self,
        question: str,
        history: Sequence[Mapping[str, str]],
        answer: str,
        retrieved: Sequence[RetrievedSource],
    ) -> dict[str, Rating]:
        """Both judge metrics of one answered case."""
        values = {
            "query": conversation_text(history, question),
            "context": context_text(retrieved),
            "response": answer,
        }
        ratings = {}
        for metric, prompt in self.prompts.items():
            wanted = {k: v for k, v in values.items() if k in prompt.variables}
            ratings[metric] = self.rate(prompt, wanted)
        return ratings

    def rate(self, prompt: PromptTemplate, values: dict[str, str]) -> Rating:
        """One rating with retries; a failure that retrying cannot mend becomes an unscored Rating."""
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            rendered = prompt.render_chat(**values)  # a fresh fence marker per call
            wait = 0.0
            try:
                reply = self._client.chat.completions.create(
                    model=self.settings.deployment,
                    messages=[
                        {"role": "system", "content": rendered.system},
                        {"role": "user", "content": rendered.user},
                    ],
                    temperature=0,
                    max_tokens=MAX_OUTPUT_TOKENS,
                    response_format={"type": "json_object"},
                )
                score, reason = parse_rating(reply.choices[0].message.content if reply.choices else None)
                return Rating(score, reason)
            except JudgeOutputError as error:
                problem = str(error)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as error:
                raise JudgeUnavailable(
                    f"judge deployment {self.settings.deployment!r} at {self.settings.endpoint} refused the "
                    f"call: HTTP {error.status_code}: {error.message}"
                ) from None
            except openai.RateLimitError as error:
                problem, wait = "throttled (HTTP 429)", _retry_after(error)
            except openai.BadRequestError as error:  # e.g. the content filter: retrying changes nothing
                return Rating(None, error=f"HTTP 400: {error.message}")
            except openai.APIStatusError as error:
                problem, wait = f"HTTP {error.status_code}", float(attempt)
            except openai.APITimeoutError:
                problem, wait = f"no reply within {CALL_TIMEOUT_S:g} s", float(attempt)
            except openai.APIConnectionError as error:
                if attempt == ATTEMPTS:
                    raise JudgeUnavailable(
                        f"judge endpoint {self.settings.endpoint} is unreachable: {error.__cause__ or error}"
                    ) from None
                problem, wait = "connection failed", float(attempt)
            except ClientAuthenticationError as error:  # no Entra credential on this machine
                raise JudgeUnavailable(
                    f"no Entra ID token for the judge ({API_KEY_ENV} is not set): "
                    f"{str(error).splitlines()[0]}"
                ) from None
            if attempt < ATTEMPTS and wait:
                self._sleep(wait)
        return Rating(None, error=f"{problem} after {ATTEMPTS} attempts")

    def close(self) -> None:
        self._client.close()
