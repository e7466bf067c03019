"""The ChatApplication resource as a pydantic model: the one source of truth for the CRD schema.

`chatfleet crd generate` turns these models (descriptions, defaults, `Cel` rules) into
`crds/chatapplications.chatfleet.dev.yaml`; the operator and `chatfleet render` parse resources with the
same models, so a field the API server accepts is a field the operator understands, and the Python
validators reject exactly what the CEL rules reject, with the same messages.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION, DeploymentType
from chatfleet.contracts.evaluation import JUDGE_METRICS, JUDGE_SCALE, LATENCY_METRICS, SCORE_METRICS
from chatfleet.contracts.links import LINK_HOST_MESSAGE, LINK_HOST_PATTERN
from chatfleet.controller.cel import (
    IDENTITY_ENDPOINT,
    POSITIVE,
    SIGN_IN_ENDPOINT,
    UPSTREAM_ENDPOINT,
    VALIDATIONS_KEY,
    Cel,
    duration_within,
    duration_within_rule,
    parse_duration,
)
from chatfleet.prompts.templates import REQUIRED_TEMPLATES, VERSION_PATTERN

# Used by the HPA when neither the spec nor a calibration gives streams per replica: a conservative
# figure for one 1-CPU chat pod streaming from Azure OpenAI (measured with the simulator, docs/operator.md).
DEFAULT_STREAMS_PER_REPLICA = 8
# Children append suffixes such as "-canary" and "-gate-<10 hex>" and must stay within 63 characters.
MAX_NAME_LENGTH = 40

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

NAME_LENGTH = Cel(
    rule=f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
    message=f"metadata.name must be at most {MAX_NAME_LENGTH} characters "
    "(children add suffixes such as -canary)",
    check=lambda name: len(name) <= MAX_NAME_LENGTH,
)
MIN_LE_MAX = Cel(
    rule="self.minReplicas <= self.maxReplicas",
    message="minReplicas must be less than or equal to maxReplicas",
    check=lambda s: s.min_replicas <= s.max_replicas,
)
AT_LEAST_ONE_DEPLOYMENT = Cel(
    rule="size(self.deployments) >= 1",
    message="deployments must list at least one Azure OpenAI deployment",
    check=lambda o: len(o.deployments) >= 1,
)
UNIQUE_DEPLOYMENT_NAMES = Cel(
    rule="self.deployments.all(d, self.deployments.exists_one(e, e.name == d.name))",
    message="deployment names must be unique",
    check=lambda o: len({d.name for d in o.deployments}) == len(o.deployments),
)
WEIGHT_RANGE = Cel(
    rule="self >= 1 && self <= 1000",
    message="weight must be between 1 and 1000",
    check=lambda w: 1 <= w <= 1000,
)
AT_LEAST_ONE = Cel(rule="self >= 1", message="must be at least 1", check=lambda n: n >= 1)
PERCENT = Cel(
    rule="self >= 0.0 && self <= 100.0", message="must be between 0 and 100", check=lambda p: 0 <= p <= 100
)
LOAD_TEST_DURATION = Cel(
    rule=duration_within_rule("5s", "1h"),
    message="duration must be a duration such as 90s, 2m or 1h between 5s and 1h",
    check=duration_within("5s", "1h"),
)
GATE_TIMEOUT = Cel(
    rule=duration_within_rule("10s", "3h"),
    message="gateTimeout must be a duration such as 15m between 10s and 3h",
    check=duration_within("10s", "3h"),
)
GATE_LONGER_THAN_TEST = Cel(
    rule=(
        "!self.gateTimeout.matches('^([0-9]+h)?([0-9]+m)?([0-9]+s)?$') || self.gateTimeout == '' || "
        "!self.loadTest.duration.matches('^([0-9]+h)?([0-9]+m)?([0-9]+s)?$') || "
        "self.loadTest.duration == '' || "
        "duration(self.gateTimeout) > duration(self.loadTest.duration)"
    ),
    message="gateTimeout must be longer than loadTest.duration",
    check=lambda r: (parse_duration(r.gate_timeout) or 0) > (parse_duration(r.load_test.duration) or 0),
)
BAKE_DURATION = Cel(
    rule=duration_within_rule("10s", "24h"),
    message="bake.duration must be a duration such as 30m or 2h between 10s and 24h",
    check=duration_within("10s", "24h"),
)
BAKE_WINDOW = Cel(
    rule=duration_within_rule("10s", "1h"),
    message="bake.window must be a duration such as 2m or 5m between 10s and 1h",
    check=duration_within("10s", "1h"),
)
BAKE_WINDOW_WITHIN_DURATION = Cel(
    rule=(
        "!self.window.matches('^([0-9]+h)?([0-9]+m)?([0-9]+s)?$') || self.window == '' || "
        "!self.duration.matches('^([0-9]+h)?([0-9]+m)?([0-9]+s)?$') || self.duration == '' || "
        "duration(self.window) <= duration(self.duration)"
    ),
    message="bake.window must not be longer than bake.duration",
    check=lambda b: (parse_duration(b.window) or 0) <= (parse_duration(b.duration) or 0),
)
EVAL_SET_SOURCE = Cel(
    rule="has(self.configMapRef) != self.sample",
    message="evaluation.set: name a ConfigMap (configMapRef) or use the shipped sample set (sample: true), "
    "exactly one of them",
    check=lambda s: (s.config_map_ref is not None) != s.sample,
)
THRESHOLD_METRICS = SCORE_METRICS + JUDGE_METRICS
SCORE_METRIC_NAMES = Cel(
    rule="self.all(k, k in [{}])".format(", ".join(f"'{m}'" for m in THRESHOLD_METRICS)),
    message=f"evaluation.thresholds: metrics must be among {', '.join(THRESHOLD_METRICS)}",
    check=lambda t: set(t) <= set(THRESHOLD_METRICS),
)
_JUDGE_LOW, _JUDGE_HIGH = JUDGE_SCALE
SCORE_RANGE = Cel(
    rule=f"self.all(k, k.startsWith('judge_') ? (self[k] >= {_JUDGE_LOW}.0 && self[k] <= {_JUDGE_HIGH}.0) "
    ": (self[k] >= 0.0 && self[k] <= 1.0))",
    message=f"evaluation.thresholds: a minimum score must be between 0 and 1 (judge_* metrics: the "
    f"rubric's {_JUDGE_LOW} to {_JUDGE_HIGH})",
    check=lambda t: all(
        (_JUDGE_LOW <= v <= _JUDGE_HIGH) if k.startswith("judge_") else (0 <= v <= 1) for k, v in t.items()
    ),
)
LATENCY_METRIC_NAMES = Cel(
    rule="self.all(k, k in [{}])".format(", ".join(f"'{m}'" for m in LATENCY_METRICS)),
    message=f"evaluation.maxLatencyMs: metrics must be among {', '.join(LATENCY_METRICS)}",
    check=lambda t: set(t) <= set(LATENCY_METRICS),
)
LATENCY_RANGE = Cel(
    rule="self.all(k, self[k] > 0.0)",
    message="evaluation.maxLatencyMs: a latency maximum must be greater than 0",
    check=lambda t: all(v > 0 for v in t.values()),
)
JUDGE_THRESHOLDS_NEED_JUDGE = Cel(
    rule="has(self.judgeDeployment) || !self.thresholds.exists(k, k.startsWith('judge_'))",
    message="evaluation.thresholds: judge_* metrics need judgeDeployment (the model that rates the answers)",
    check=lambda e: e.judge_deployment is not None or not any(k.startswith("judge_") for k in e.thresholds),
)
EVAL_HAS_THRESHOLD = Cel(
    rule="size(self.thresholds) + size(self.maxLatencyMs) >= 1",
    message="evaluation needs at least one threshold (thresholds or maxLatencyMs): "
    "without one it gates nothing",
    check=lambda e: len(e.thresholds) + len(e.max_latency_ms) >= 1,
)
ONE_TOKEN_SOURCE = Cel(
    rule="[has(self.staticSecret), has(self.clientCredentials), has(self.workloadIdentity)]"
    ".filter(x, x).size() == 1",
    message="loadTest.token needs exactly one of staticSecret, clientCredentials or workloadIdentity",
    check=lambda t: [t.static_secret, t.client_credentials, t.workload_identity].count(None) == 2,
)
UNIQUE_CANARY_DEPLOYMENT_NAMES = Cel(
    rule="self.all(d, self.exists_one(e, e.name == d.name))",
    message="canaryDeployments: deployment names must be unique",
    check=lambda ds: len({d.name for d in ds}) == len(ds),
)
CLIENT_ID_IMMUTABLE = Cel(
    rule="self == oldSelf",
    message="clientId is immutable: the identity is shared by the stable and canary pods, "
    "so changing it would bypass the gate; create a new ChatApplication instead",
    transition=True,
)
TENANT_CLAIM_IMMUTABLE = Cel(
    rule="self == oldSelf",
    message="tenantClaim is immutable: it defines the tenant boundary of all data the app serves",
    transition=True,
)

PROMPT_IDS = sorted(REQUIRED_TEMPLATES)
KNOWN_PROMPT_IDS = Cel(
    rule="self.all(k, k in [{}])".format(", ".join(f"'{pid}'" for pid in PROMPT_IDS)),
    message=f"pins: prompt ids must be among {', '.join(PROMPT_IDS)}",
    check=lambda pins: set(pins) <= set(PROMPT_IDS),
)
PROMPTS_VERSION_REMOVED = Cel(
    rule="!has(self.version)",
    message="prompts.version was removed (it pinned every prompt id to one version); "
    'pin per id with prompts.pins, e.g. pins: {answer: "3"}',
    check=lambda p: p.version is None,
)
DOCUMENTS_NEED_LOCAL_INDEX = Cel(
    rule="!has(self.search) || !has(self.documents) || size(self.documents) == 0",
    message="documents feed the local index, which is not used with search (Azure AI Search): remove "
    "documents, or ingest them into the search index with `chatfleet ingest --azure-search-endpoint`",
    check=lambda s: not (s.search and s.documents),
)
HISTORY_SQLITE_ONE_REPLICA = Cel(
    rule="self.history.store != 'sqlite' || self.scaling.maxReplicas == 1",
    message="history.store sqlite keeps one file per pod, so replicas would each see other conversations: "
    "set scaling.minReplicas and scaling.maxReplicas to 1, or history.store postgres (shared by replicas) "
    "or none",
    check=lambda s: s.history.store != "sqlite" or s.scaling.max_replicas == 1,
)


def _needs_postgres_server(field: str, attribute: str) -> Cel:
    """`<field>.store: postgres` (history, budgets, semanticCache) needs spec.postgres."""
    return Cel(
        rule=f"self.{field}.store != 'postgres' || has(self.postgres)",
        message=f"{field}.store postgres needs postgres: the server's host, database and user",
        check=lambda s: getattr(s, attribute).store != "postgres" or s.postgres is not None,
    )


HISTORY_POSTGRES_NEEDS_SERVER = _needs_postgres_server("history", "history")
BUDGETS_POSTGRES_NEEDS_SERVER = _needs_postgres_server("budgets", "budgets")
SEMANTIC_CACHE_POSTGRES_NEEDS_SERVER = _needs_postgres_server("semanticCache", "semantic_cache")
POSTGRES_PASSWORD_WITH_PASSWORD_AUTH = Cel(
    rule="(self.auth == 'password') == has(self.passwordSecretRef)",
    message="postgres.auth password needs passwordSecretRef, and only it takes one (auth entra signs in "
    "with the pods' workload identity, no password)",
    check=lambda p: (p.auth == "password") == (p.password_secret_ref is not None),
)
# A DNS name, one label or more: a cloud server's FQDN or an in-cluster Service name.
HOST_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The same shape `chatfleet ingest --tenant` accepts.
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$"
# RFC 6749 scope-token, what Entra puts in `scp` and `roles`: printable ASCII without space, `"` or `\`
# (the service quotes it in WWW-Authenticate); the chat service's settings check the same.
SCOPE_NAME_PATTERN = r"^[!#-\[\]-~]{1,256}$"
SCOPE_NAME = Cel(
    rule=f"self.matches(r'{SCOPE_NAME_PATTERN}')",
    message="must be one scope or app role name as it appears in the token: printable ASCII without "
    "spaces, quotes or backslashes",
    check=lambda value: re.match(SCOPE_NAME_PATTERN, value) is not None,
)
ScopeName = Annotated[str, Field(min_length=1, max_length=256), SCOPE_NAME]
LINK_HOST = Cel(
    rule=f"self.matches(r'{LINK_HOST_PATTERN}')",
    message=LINK_HOST_MESSAGE,
    check=lambda value: re.match(LINK_HOST_PATTERN, value) is not None,
)
LinkHost = Annotated[str, Field(min_length=1, max_length=253), LINK_HOST]
# The namespace kube-prometheus-stack and most monitoring set-ups run in.
DEFAULT_METRICS_PEERS: list[Any] = [  # Any: a JSON value in the CRD default too
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
]
_TENANT_RE = re.compile(TENANT_PATTERN)

PROMPT_SHIELDS_NEED_ENDPOINT = Cel(
    rule="self.mode != 'promptShields' || has(self.contentSafetyEndpoint)",
    message="guards.mode promptShields needs contentSafetyEndpoint (the Azure AI Content Safety resource, "
    "e.g. https://cs-support.cognitiveservices.azure.com)",
    check=lambda g: g.mode != "promptShields" or g.content_safety_endpoint is not None,
)
OVERRIDE_TENANT_NAMES = Cel(
    rule=f"self.all(k, k.matches('{TENANT_PATTERN}'))",
    message="tenantOverrides: keys must be tenant names (letters, digits and . _ @ : -, at most 128)",
    check=lambda overrides: all(_TENANT_RE.match(k) for k in overrides),
)
OVERRIDES_IN_TENANTS = Cel(
    rule="size(self.tenants) == 0 || self.budgets.tenantOverrides.all(k, k in self.tenants)",
    message="budgets.tenantOverrides names a tenant that is not in tenants (the allow-list): "
    "add it to tenants or remove the override",
    check=lambda s: not s.tenants or set(s.budgets.tenant_overrides) <= set(s.tenants),
)


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


CIDR = Cel(
    rule="isCIDR(self)",
    message="must be a CIDR such as 10.20.0.0/24 or fd00::/64",
    check=_is_cidr,
)
RELEVANCE_RANGE = Cel(
    rule="self >= 0.0 && self <= 1.0",
    message="minimumRelevance must be between 0 and 1 (relevance of the best source; 0 turns the check off)",
    check=lambda r: 0 <= r <= 1,
)
SIMILARITY_THRESHOLD = Cel(
    rule="self > 0.0 && self <= 1.0",
    message="semanticCache.threshold must be above 0 and at most 1 (cosine similarity of two questions)",
    check=lambda t: 0 < t <= 1,
)
CACHE_TTL = Cel(
    rule=duration_within_rule("10s", "720h"),
    message="semanticCache.ttl must be a duration such as 30m or 4h between 10s and 720h",
    check=duration_within("10s", "720h"),
)
CACHE_ENTRIES = Cel(
    rule="self >= 1 && self <= 1000000",
    message="semanticCache.maxEntries must be between 1 and 1000000",
    check=lambda n: 1 <= n <= 1_000_000,
)

Name = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
UpstreamEndpoint = Annotated[str, Field(min_length=1, max_length=2048), UPSTREAM_ENDPOINT]
IdentityEndpoint = Annotated[str, Field(min_length=1, max_length=2048), IDENTITY_ENDPOINT]
PositiveInt = Annotated[int, POSITIVE]
PositiveFloat = Annotated[float, POSITIVE]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are typos, so they are rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _full_default(model: type[Model]) -> dict[str, Any]:
    """The API server checks CEL rules against a default as written, so defaults are spelled out in full."""
    return model().model_dump(by_alias=True, mode="json", exclude_none=True, exclude_defaults=False)


def _object(model: type[Model], description: str) -> Any:
    """An optional nested object whose default carries every nested default."""
    return Field(
        default_factory=model, json_schema_extra={"default": _full_default(model)}, description=description
    )


class Resources(Model):
    """Requests and limits of one chat pod (canonical Kubernetes quantities)."""

    cpu_request: str = Field("250m", description="CPU request of a chat pod.")
    memory_request: str = Field("512Mi", description="Memory request of a chat pod.")
    cpu_limit: str = Field("1", description="CPU limit of a chat pod.")
    memory_limit: str = Field("1Gi", description="Memory limit of a chat pod.")


class Identity(Model):
    """Azure workload identity the pods use for Azure OpenAI and Azure AI Search (no keys)."""

    client_id: Annotated[str, Field(min_length=1, max_length=64), CLIENT_ID_IMMUTABLE] = Field(
        description="Client id of the user-assigned managed identity (on the ServiceAccount). Immutable."
    )


class SignIn(Model):
    """The chat page's sign-in (MSAL.js, authorization code + PKCE): the SPA registration it signs in with."""

    client_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Application (client) id of the SPA registration the page signs in with (redirect URI "
        "https://<host>/).",
    )
    authority: Annotated[str, Field(min_length=1, max_length=2048), SIGN_IN_ENDPOINT] | None = Field(
        None,
        description="Where the page signs in (https), e.g. https://login.microsoftonline.com/<tid>; unset: "
        "the issuer without a trailing /v2.0. Any other OpenID Connect provider's issuer works too.",
    )
    scopes: list[ScopeName] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"default": []},
        description="Scopes the page requests, e.g. api://support-bot/Chat.Use; empty: <audience>/.default.",
    )


SIGN_IN_AUTHORITY_FROM_ISSUER = Cel(
    rule="!has(self.signIn) || has(self.signIn.authority) || self.issuer.startsWith('https://')",
    message="auth.signIn without authority signs in at the issuer, which must then be https (MSAL.js "
    "refuses http authorities): set auth.signIn.authority",
    check=lambda a: a.sign_in is None or a.sign_in.authority is not None or a.issuer.startswith("https://"),
)


class Auth(Model):
    """Microsoft Entra ID token validation of the chat API, and the chat page's sign-in."""

    issuer: IdentityEndpoint = Field(
        description="Expected `iss` claim, e.g. https://login.microsoftonline.com/<tid>/v2.0."
    )
    audience: str = Field(
        min_length=1, max_length=256, description="Expected `aud` claim, e.g. api://support-bot."
    )
    tenant_claim: Annotated[str, Field(min_length=1, max_length=64), TENANT_CLAIM_IMMUTABLE] = Field(
        "tid", description="Token claim that names the caller's tenant; data is filtered by it. Immutable."
    )
    required_scopes: list[ScopeName] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"default": []},
        description="Tokens must carry one of these scopes in `scp` (as it appears there, e.g. Chat.Use), "
        "else 403 insufficient_scope; empty: no scope check.",
    )
    required_roles: list[ScopeName] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"default": []},
        description="Tokens must carry one of these app roles in `roles`, else 403; empty: no role check. "
        "With both lists set, a token needs a scope and a role.",
    )
    sign_in: SignIn | None = Field(
        None, description="The chat page's sign-in; unset: the page cannot sign users in (API clients only)."
    )

    def sign_in_authority(self) -> str | None:
        """The page's authority: as given, else the issuer (Entra's v2 issuer minus /v2.0 is the tenant's)."""
        if self.sign_in is None:
            return None
        return self.sign_in.authority or self.issuer.removesuffix("/").removesuffix("/v2.0")

    def sign_in_scopes(self) -> list[str]:
        """The scopes the page asks for: as given, else every delegated permission of the audience."""
        if self.sign_in is None:
            return []
        return self.sign_in.scopes or [f"{self.audience.removesuffix('/')}/.default"]


class RateLimit(Model):
    """Per-user request rate of the chat API (per replica)."""

    user_requests_per_minute: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Requests per minute per user (token tenant + oid) and replica; over it 429 with "
        "Retry-After. 0: off.",
    )


class Budget(Model):
    """Token budget of one Azure OpenAI deployment, used by the router to spread load before a 429."""

    tokens_per_minute: PositiveInt = Field(description="Tokens per minute the deployment may receive.")


class OpenAIDeployment(Model):
    """One Azure OpenAI deployment in the router's pool."""

    name: Name = Field(description="Unique name of this entry (used in metrics and logs).")
    endpoint: UpstreamEndpoint = Field(
        description="Azure OpenAI endpoint, e.g. https://aoai-east.openai.azure.com."
    )
    deployment: str = Field(
        min_length=1, max_length=128, description="Deployment (model) name on that endpoint."
    )
    type: DeploymentType = Field(
        "GlobalStandard", description="Deployment type; PTU types are preferred first."
    )
    priority: int = Field(
        1, ge=0, le=100, description="Lower is preferred; the router fails over by priority."
    )
    weight: Annotated[int, WEIGHT_RANGE] = Field(
        100, description="Share among deployments of equal priority."
    )
    budget: Budget | None = Field(
        None, description="Token budget; unset means only 429s limit this deployment."
    )
    api_version: str = Field(DEFAULT_API_VERSION, max_length=32, description="Azure OpenAI REST API version.")


class OpenAI(Model):
    """The pool of Azure OpenAI deployments the LLM router balances over."""

    deployments: list[OpenAIDeployment] = Field(
        max_length=16, description="Deployments by priority and weight; at least one, names unique."
    )


class Search(Model):
    """Azure AI Search grounding; omit to use the service's embedded local index."""

    endpoint: UpstreamEndpoint = Field(
        description="Azure AI Search endpoint, e.g. https://search.example.windows.net."
    )
    index: str = Field(min_length=1, max_length=128, description="Index name.")
    mode: Literal["hybrid", "text", "vectors"] = Field("hybrid", description="Retrieval mode.")
    top: int = Field(5, ge=1, le=50, description="Sources retrieved per turn.")
    semantic_ranker: bool = Field(False, description="Re-rank with the Azure semantic ranker.")
    index_version: str | None = Field(
        None,
        max_length=128,
        description="Label of the index's content, part of the semantic cache's index version: change it "
        "after re-ingesting, so answers grounded in the old content are no longer reused.",
    )


class Guards(Model):
    """Prompt-injection screening of questions and retrieved sources (both before anything is released)."""

    mode: Literal["local", "promptShields"] = Field(
        "local",
        description="local: the built-in detector, in the pod. promptShields: Azure AI Content Safety "
        "Prompt Shields (needs contentSafetyEndpoint and the Cognitive Services User role).",
    )
    content_safety_endpoint: UpstreamEndpoint | None = Field(
        None, description="Azure AI Content Safety endpoint, e.g. https://cs-x.cognitiveservices.azure.com."
    )


class Budgets(Model):
    """Token budgets per tenant: one tenant's burst is refused with 429 before it reaches the shared pool."""

    tenant_tokens_per_minute: Annotated[int, Field(ge=0, le=100_000_000)] = Field(
        200_000, description="Tokens per minute each tenant may use; 0: unlimited."
    )
    tenant_overrides: Annotated[
        dict[str, Annotated[int, Field(ge=0, le=100_000_000)]], OVERRIDE_TENANT_NAMES
    ] = Field(
        default_factory=dict,
        max_length=256,
        json_schema_extra={"default": {}},
        description="Tokens per minute of named tenants instead of tenantTokensPerMinute (0: unlimited), "
        "e.g. {contoso: 500000}; with an allow-list, only tenants on it.",
    )
    store: Literal["memory", "postgres"] = Field(
        "memory",
        description="memory: each pod keeps its own buckets (N replicas give a tenant N budgets; a restart "
        "refills them). postgres: one bucket per tenant in the `postgres` server, shared by every replica "
        "and kept over restarts.",
    )
    store_failure: Literal["open", "closed"] = Field(
        "open",
        description="With store postgres, when the store does not answer within 250 ms: open checks the turn "
        "against the pod's own bucket (per-replica budgets while it lasts), closed refuses it (503).",
    )


class Retrieval(Model):
    """How a question becomes sources, and when the sources are too weak to ask the model at all."""

    query_rewrite: Literal["auto", "always", "never"] = Field(
        "auto",
        description="auto: rewrite follow-up questions into a standalone search query (one model call); "
        "always: every question; never: search with the question as typed.",
    )
    minimum_relevance: Annotated[float, RELEVANCE_RANGE] = Field(
        0.0,
        description="When the best source's relevance (cosine similarity of question and source, or the "
        "semantic ranker's score / 4) is below this, the no-answer template answers without a model call "
        "(an off-topic question gets no unrelated sources). 0: off. 0.25 suits wordllama "
        "(docs/retrieval.md).",
    )
    embedder: Literal["wordllama", "minilm"] = Field(
        "wordllama",
        description="Offline embedding model of the local index and of Azure AI Search query vectors; the "
        "index must have been built with the same one.",
    )


class Answers(Model):
    """What happens to an answer on its way to the user (docs/security.md, docs/evaluation.md)."""

    uncited: Literal["flag", "annotate", "replace"] = Field(
        "annotate",
        description="A model answer citing no retrieved source: flag (closing line and metric only), "
        "annotate (also a note appended to the answer), replace (the no-sources answer instead; the answer "
        "is held until its first valid citation).",
    )
    link_hosts: list[LinkHost] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"default": []},
        description="Hosts answers may link to (docs.contoso.com, or *.contoso.com for its subdomains); "
        "every other absolute link becomes (link removed). Empty: relative links only. Raw HTML is always "
        "removed.",
    )
    quality_sample_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1,
        description="Share of answers scored for groundedness in the background (never on the TTFT path); "
        "0: off.",
    )


class Prompts(Model):
    """Prompt templates from a ConfigMap, mounted into the pods; each id pinned or the newest version."""

    config_map_ref: Name = Field(
        description="ConfigMap (same namespace) whose keys are prompt files (<id>.v<version>.yaml); the "
        "operator validates it before rolling out."
    )
    pins: Annotated[
        dict[str, Annotated[str, Field(max_length=32, pattern=VERSION_PATTERN)]], KNOWN_PROMPT_IDS
    ] = Field(
        default_factory=dict,
        max_length=16,
        json_schema_extra={"default": {}},
        description='Version per prompt id, e.g. {answer: "3"}; ids not pinned use their newest version '
        "(shipped or from the ConfigMap).",
    )
    version: str | None = Field(
        None, max_length=32, description="Removed: use pins. Kept in the schema only to refuse it clearly."
    )


class DocumentSource(Model):
    """Documents of one tenant from a ConfigMap (keys are file names: .md, .markdown, .txt, .rst)."""

    config_map_ref: Name = Field(description="ConfigMap (same namespace) holding the documents.")
    tenant: str = Field(
        min_length=1, max_length=128, pattern=TENANT_PATTERN, description="Tenant that owns these documents."
    )


class History(Model):
    """Server-side conversation history: the UI's sidebar of past conversations, per tenant and user."""

    store: Literal["none", "sqlite", "postgres"] = Field(
        "none",
        description="none: conversations live only in the browser tab. sqlite: one SQLite file in the pod's "
        "emptyDir (kept across container restarts, lost with the pod); a single replica only. postgres: "
        "the `postgres` server, shared by every replica.",
    )
    retention_days: Annotated[int, Field(le=3650), AT_LEAST_ONE] = Field(
        30, description="Conversations idle longer than this many days are deleted."
    )


class Postgres(Model):
    """The PostgreSQL server of the state every replica shares (Azure Database for PostgreSQL flexible
    server): conversation history with history.store postgres, budgets with budgets.store postgres."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_NAME)] = Field(
        description="Server host, e.g. myserver.postgres.database.azure.com (egress to its port is allowed)."
    )
    port: int = Field(5432, ge=1, le=65535, description="Server port.")
    database: str = Field(min_length=1, max_length=63, description="Database of the app's tables.")
    user: str = Field(
        min_length=1,
        max_length=128,
        description="Role the pods connect as; with auth entra, the role of the app's managed identity "
        "(created with pgaadauth_create_principal, usually named like the identity).",
    )
    auth: Literal["entra", "password"] = Field(
        "entra",
        description="entra: a Microsoft Entra token of the pods' workload identity, refreshed before expiry, "
        "is the password. password: from passwordSecretRef (a self-hosted server).",
    )
    password_secret_ref: Name | None = Field(
        None, description="Secret (same namespace) holding the password; only with auth password."
    )
    password_secret_key: str = Field(
        "password", min_length=1, max_length=253, description="Key of the password in that Secret."
    )
    sslmode: Literal["require", "verify-ca", "verify-full", "disable"] = Field(
        "require", description="TLS (libpq sslmode); disable only for an in-cluster test server."
    )


class SemanticCache(Model):
    """Reuse of an answer for a close enough standalone question (docs/chat-service.md#semantic-cache)."""

    enabled: bool = Field(
        False,
        description="Answer a conversation's first question from an earlier answer of the same tenant, "
        "prompt versions and index version when the questions are close enough and the caller may read "
        "all its sources; follow-ups always go to the model.",
    )
    threshold: Annotated[float, SIMILARITY_THRESHOLD] = Field(
        0.95,
        description="Least cosine similarity of the two questions' embeddings (the retrieval embedder's); "
        "lower reuses more, and more often for a question that means something else.",
    )
    ttl: Annotated[str, CACHE_TTL] = Field(
        "1h", description="How long an answer is reused after it was written (10s..720h), e.g. 4h."
    )
    max_entries: Annotated[int, CACHE_ENTRIES] = Field(
        10_000, description="Answers kept per pod with store memory; past it the oldest go first."
    )
    store: Literal["memory", "postgres"] = Field(
        "memory",
        description="Where answers are kept: memory (each pod its own, lost on restart) or postgres (the "
        "`postgres` server: one cache shared by every replica, kept over restarts).",
    )


class Scaling(Model):
    """HorizontalPodAutoscaler bounds and targets; TTFT is the chat SLO the HPA guards."""

    min_replicas: Annotated[int, AT_LEAST_ONE] = Field(
        2, description="Fewest replicas (also the PDB's floor)."
    )
    max_replicas: Annotated[int, Field(le=1000), AT_LEAST_ONE] = Field(10, description="Most replicas.")
    ttft_p95_target_ms: PositiveInt = Field(
        1200, description="Per-pod TTFT p95 the HPA keeps below (SLO guard)."
    )
    streams_per_replica: PositiveInt | None = Field(
        None,
        description="In-flight streams per pod the HPA targets; unset: calibrated by the load-test gate.",
    )
    scale_down_stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        300,
        description="How long load must stay low before the HPA removes pods (its scale-down "
        "stabilization window); short values only for tests, a turn-length dip must not cost pods.",
    )


class Slo(Model):
    """Chat SLOs a candidate revision must meet in the load test before promotion."""

    ttft_p95_ms: PositiveFloat = Field(1500, description="Time to first token, 95th percentile, in ms.")
    error_rate_percent: Annotated[float, PERCENT] = Field(
        1.0, description="Highest share of failed requests, %."
    )
    min_tokens_per_second: PositiveFloat = Field(20, description="Lowest streamed output tokens per second.")


KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # a ConfigMap or Secret key
DataKey = Annotated[str, Field(min_length=1, max_length=253, pattern=KEY_PATTERN)]


class ConversationsSource(Model):
    """The app's own conversations (JSON lines, docs/sre-loadtests.md) the gate replays."""

    config_map_ref: Name = Field(
        description="ConfigMap (same namespace) holding the conversations; mounted into the gate's load test."
    )
    key: DataKey = Field("conversations.jsonl", description="Key of the conversations in that ConfigMap.")


class StaticSecretToken(Model):
    """A bearer token someone puts in a Secret (it expires: renew it before each gate)."""

    secret_ref: Name | None = Field(
        None, description="Secret (same namespace) with the token; default <app>-loadtest-token."
    )
    key: DataKey = Field("token", description="Key of the token in that Secret.")


class ClientCredentialsToken(Model):
    """An app registration's client secret: `chatfleet loadtest` mints a token of the app's audience."""

    secret_ref: Name = Field(
        description="Secret (same namespace) with the app registration's tenant id, client id and secret."
    )
    tenant_id_key: DataKey = Field("tenantId", description="Key of the directory (tenant) id.")
    client_id_key: DataKey = Field("clientId", description="Key of the client (application) id.")
    client_secret_key: DataKey = Field("clientSecret", description="Key of the client secret.")
    authority_host: IdentityEndpoint | None = Field(
        None,
        description="Entra ID authority host for other clouds, e.g. https://login.microsoftonline.us; "
        "unset: the public cloud.",
    )


class WorkloadIdentityToken(Model):
    """The gate pod's own workload identity, exchanged for a token of the app's audience per run."""

    client_id: str = Field(
        min_length=1,
        max_length=64,
        description="Client id of the identity (app registration or managed identity) the gate runs as; "
        "it needs a federated credential for the gate's ServiceAccount.",
    )
    tenant_id: str | None = Field(
        None, max_length=64, description="Its directory (tenant) id; unset: the workload identity webhook's."
    )
    service_account_name: Name | None = Field(
        None,
        description="ServiceAccount the gate Job runs as (the operator creates it with the workload identity "
        "annotations); default <app>-loadtest.",
    )


class LoadTestToken(Model):
    """Where the gate's bearer token comes from (one of three); unset: staticSecret with its defaults."""

    static_secret: StaticSecretToken | None = Field(
        None, description="A token from a Secret (today's behaviour; expires unless renewed)."
    )
    client_credentials: ClientCredentialsToken | None = Field(
        None, description="Client credentials from a Secret; a fresh token is minted per run and refreshed."
    )
    workload_identity: WorkloadIdentityToken | None = Field(
        None, description="The gate pod's workload identity; a fresh token is minted per run and refreshed."
    )


Scenario = Literal["steady", "spike", "failover", "long-answers", "multi-tenant"]


class LoadTest(Model):
    """The Locust run of the gate (same scenarios SREs run against staging)."""

    users: Annotated[int, Field(le=10000), AT_LEAST_ONE] = Field(
        50, description="Concurrent simulated users."
    )
    spawn_rate: PositiveFloat = Field(10, description="Users started per second.")
    duration: Annotated[str, Field(max_length=16), LOAD_TEST_DURATION] = Field(
        "2m", description="Run time, a duration such as 90s or 2m (5s..1h)."
    )
    scenario: Scenario = Field("steady", description="Locust scenario name.")
    slo: Slo = _object(Slo, "SLOs of the verdict.")
    image: str | None = Field(None, max_length=512, description="Load-test image; default: the app's image.")
    conversations: ConversationsSource | None = Field(
        None,
        description="The app's own conversations to replay, for the app's tenants (spec.tenants, else every "
        "tenant in the file); unset: the packaged sample conversations.",
    )
    token: Annotated[LoadTestToken, ONE_TOKEN_SOURCE] | None = Field(
        None,
        description="Bearer token of the simulated users (scope: the app's audience + /.default); unset: "
        "the optional Secret <app>-loadtest-token.",
    )


class Bake(Model):
    """After promotion: the new revision's live SLOs, watched in Prometheus, roll it back when they break."""

    duration: Annotated[str, Field(max_length=16), BAKE_DURATION] = Field(
        description="How long the promoted revision is watched (10s..24h), e.g. 30m."
    )
    window: Annotated[str, Field(max_length=16), BAKE_WINDOW] = Field(
        "2m", description="Rate window of the live TTFT p95 and error rate (10s..1h, at most duration)."
    )
    min_requests: Annotated[int, Field(le=100000), AT_LEAST_ONE] = Field(
        20, description="Chat requests the window needs before its figures are judged (quiet apps are not)."
    )


class EvalSet(Model):
    """Where the gate's eval set (JSON lines, docs/evaluation.md) comes from."""

    config_map_ref: Name | None = Field(
        None, description="ConfigMap (same namespace) holding the eval set; mounted into the gate's eval."
    )
    key: str = Field(
        "eval-set.jsonl",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key of the eval set in that ConfigMap.",
    )
    sample: bool = Field(
        False, description="Use the eval set shipped for the packaged sample corpus instead of a ConfigMap."
    )


class Evaluation(Model):
    """Answer quality a candidate must reach: `chatfleet eval run` on the canary, beside the load test."""

    eval_set: Annotated[EvalSet, EVAL_SET_SOURCE] = Field(alias="set", description="The eval set.")
    thresholds: Annotated[dict[str, float], SCORE_METRIC_NAMES, SCORE_RANGE] = Field(
        default_factory=dict,
        max_length=len(THRESHOLD_METRICS),
        json_schema_extra={"default": {}},
        description="Minimum score per metric (0..1; judge_* 1..5), e.g. {groundedness: 0.9, "
        f"judge_groundedness: 4}}; metrics: {', '.join(THRESHOLD_METRICS)}.",
    )
    max_latency_ms: Annotated[dict[str, float], LATENCY_METRIC_NAMES, LATENCY_RANGE] = Field(
        default_factory=dict,
        max_length=len(LATENCY_METRICS),
        json_schema_extra={"default": {}},
        description=f"Maximum per latency metric in ms, e.g. {{ttft_p95_ms: 3000}}; metrics: "
        f"{', '.join(LATENCY_METRICS)}.",
    )
    judge_deployment: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Azure OpenAI deployment that rates each answer (LLM-as-judge: judge_groundedness, "
        "judge_relevance, 1-5), authenticated with the gate's Entra identity. Unset: no judge scores.",
    )
    judge_endpoint: UpstreamEndpoint | None = Field(
        None,
        description="Azure OpenAI endpoint of judgeDeployment; default: the endpoint of the first "
        "spec.openai.deployments entry (the app's own resource).",
    )


class Rollout(Model):
    """How a new revision reaches users: after a passing load test (Gated) or at once (Immediate)."""

    strategy: Literal["Gated", "Immediate"] = Field(
        "Gated", description="Gated: canary + load test before promotion. Immediate: no gate."
    )
    gate_timeout: Annotated[str, Field(max_length=16), GATE_TIMEOUT] = Field(
        "15m", description="A gate still running after this long fails (10s..3h, longer than the load test)."
    )
    load_test: LoadTest = _object(LoadTest, "The gate's load test.")
    bake: Annotated[Bake, BAKE_WINDOW_WITHIN_DURATION] | None = Field(
        None,
        description="Watch a promoted revision's live TTFT p95 and error rate against loadTest.slo and roll "
        "back to the previous revision on a breach (needs the operator's Prometheus URL); unset: no bake.",
    )
    evaluation: Annotated[Evaluation, EVAL_HAS_THRESHOLD, JUDGE_THRESHOLDS_NEED_JUDGE] | None = Field(
        None,
        description="Answer-quality gate: an eval set run against the canary beside the load test; both "
        "must pass before promotion. Unset: no evaluation.",
    )
    canary_deployments: Annotated[list[OpenAIDeployment], UNIQUE_CANARY_DEPLOYMENT_NAMES] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Azure OpenAI deployments the canary (and so the gate's traffic) uses instead of "
        "spec.openai, e.g. a separate test quota or the in-cluster simulator; same schema as "
        "openai.deployments. Unset: the canary shares the production pool.",
    )


class Network(Model):
    """Network exposure; everything not listed here is denied."""

    ingress_from: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=32,
        description="NetworkPolicy peers allowed to reach the chat port (ingress controller, gateways).",
    )
    metrics_from: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(peer) for peer in DEFAULT_METRICS_PEERS],
        max_length=32,
        json_schema_extra={"default": DEFAULT_METRICS_PEERS},
        description="NetworkPolicy peers allowed to scrape the metrics port (9464); default: the "
        "`monitoring` namespace. Never reachable through the app's Service.",
    )
    egress_cidrs: list[Annotated[str, Field(max_length=64), CIDR]] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"default": []},
        description="Where port 443 may go, e.g. the private endpoints' subnet 10.20.0.0/24 (Azure OpenAI, "
        "AI Search, Content Safety, Entra ID's keys); empty: any address. DNS stays open.",
    )


HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
INGRESS_NEEDS_TLS = Cel(
    rule="has(self.tlsSecretRef) || has(self.certManagerIssuer) || has(self.certManagerClusterIssuer)",
    message="ingress needs tlsSecretRef or a cert-manager issuer (certManagerIssuer or "
    "certManagerClusterIssuer): the app is served over HTTPS only",
    check=lambda i: bool(i.tls_secret_ref or i.cert_manager_issuer or i.cert_manager_cluster_issuer),
)
ONE_ISSUER = Cel(
    rule="!(has(self.certManagerIssuer) && has(self.certManagerClusterIssuer))",
    message="set certManagerIssuer or certManagerClusterIssuer, not both",
    check=lambda i: not (i.cert_manager_issuer and i.cert_manager_cluster_issuer),
)
ONE_ENTRY = Cel(
    rule="has(self.ingress) != has(self.gateway)",
    message="exposure needs exactly one of ingress (an Ingress) or gateway (a Gateway API HTTPRoute)",
    check=lambda e: (e.ingress is None) != (e.gateway is None),
)


class IngressEntry(Model):
    """An Ingress for an nginx-based controller (ingress-nginx, AKS application routing) or another."""

    class_name: str | None = Field(
        None,
        max_length=253,
        description="ingressClassName, e.g. webapprouting.kubernetes.azure.com (AKS application routing) "
        "or nginx; unset: the cluster's default class.",
    )
    tls_secret_ref: Name | None = Field(
        None,
        description="Secret (same namespace) with the certificate; with a cert-manager issuer, the "
        "Secret cert-manager fills (default <app>-tls).",
    )
    cert_manager_issuer: Name | None = Field(None, description="cert-manager Issuer (same namespace).")
    cert_manager_cluster_issuer: Name | None = Field(None, description="cert-manager ClusterIssuer.")
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=32,
        json_schema_extra={"default": {}},
        description="Extra annotations for controllers that are not nginx-based; they override the "
        "streaming-safe nginx ones.",
    )


class ParentRef(Model):
    """The Gateway the HTTPRoute attaches to."""

    name: Name = Field(description="Gateway name.")
    namespace: Name | None = Field(None, description="Gateway namespace; unset: the app's namespace.")
    section_name: Name | None = Field(None, description="Listener name on the Gateway (its HTTPS listener).")


class GatewayEntry(Model):
    """A Gateway API HTTPRoute; TLS terminates at the Gateway's HTTPS listener."""

    parent_ref: ParentRef = Field(description="The Gateway (and listener) to attach to.")


class Exposure(Model):
    """The app's HTTPS entry for browsers and clients outside the cluster; unset: in-cluster only."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME)] = Field(
        description="Public host name, e.g. support.contoso.com."
    )
    ingress: Annotated[IngressEntry, INGRESS_NEEDS_TLS, ONE_ISSUER] | None = Field(
        None, description="Serve through an Ingress."
    )
    gateway: GatewayEntry | None = Field(None, description="Serve through a Gateway API HTTPRoute.")
    controller_namespace: Name = Field(
        "app-routing-system",
        description="Namespace of the ingress controller's (or the Gateway's proxy) pods, admitted to the "
        "chat port by the NetworkPolicy; default: AKS application routing's. ingress-nginx: ingress-nginx.",
    )


class Observability(Model):
    """Where traces go, and whether conversation content may be logged."""

    otlp_endpoint: str | None = Field(
        None, max_length=2048, description="OTLP/gRPC collector, e.g. http://otel:4317."
    )
    app_insights_secret_ref: Name | None = Field(
        None,
        description="Secret with the Application Insights connection string (never copied to a ConfigMap).",
    )
    app_insights_secret_key: str = Field(
        "connectionString", max_length=253, description="Key of the connection string in that Secret."
    )
    log_content: bool = Field(
        False,
        description="Log prompts, answers and flagged text (personal data!) and show the answer prompt in "
        "the response's thoughts; off by default.",
    )


class TrustBundle(Model):
    """CA certificates the pods trust for outgoing TLS instead of the image's public roots."""

    config_map_ref: Name = Field(
        description="ConfigMap (same namespace) with a PEM bundle, e.g. one trust-manager writes or "
        "kube-root-ca.crt. It replaces the image's roots for every HTTPS call (issuer, Azure OpenAI, "
        "Search, Content Safety): include the public roots when an endpoint uses them."
    )
    key: str = Field(
        "ca.crt",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key of the PEM bundle in that ConfigMap.",
    )


class ChatApplicationSpec(Model):
    """Desired state of one retrieval-augmented chat application."""

    image: str = Field(
        min_length=1, max_length=512, description="Chat service image, e.g. registry/chat:1.4.0."
    )
    resources: Resources = _object(Resources, "Requests and limits of one chat pod.")
    identity: Identity = Field(description="Workload identity of the pods.")
    auth: Annotated[Auth, SIGN_IN_AUTHORITY_FROM_ISSUER] = Field(
        description="Entra ID token validation and the chat page's sign-in."
    )
    tenants: list[Annotated[str, Field(min_length=1, max_length=63)]] = Field(
        default_factory=list,
        max_length=256,
        json_schema_extra={"default": []},
        description="Allow-list of tenants; empty admits every tenant.",
    )
    openai: Annotated[OpenAI, AT_LEAST_ONE_DEPLOYMENT, UNIQUE_DEPLOYMENT_NAMES] = Field(
        description="Azure OpenAI deployments of the LLM router."
    )
    search: Search | None = Field(None, description="Azure AI Search; unset: the embedded local index.")
    documents: list[DocumentSource] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"default": []},
        description="Documents each pod ingests into its local index at start (only without search); "
        "empty: the packaged two-tenant sample corpus.",
    )
    guards: Annotated[Guards, PROMPT_SHIELDS_NEED_ENDPOINT] = _object(Guards, "Prompt-injection screening.")
    budgets: Budgets = _object(Budgets, "Token budgets per tenant.")
    retrieval: Retrieval = _object(Retrieval, "Query rewrite, relevance floor and embedder.")
    answers: Answers = _object(Answers, "Uncited answers, allowed link hosts, quality sampling.")
    prompts: Annotated[Prompts, PROMPTS_VERSION_REMOVED] | None = Field(
        None, description="Prompt templates; unset: the built-in library."
    )
    scaling: Annotated[Scaling, MIN_LE_MAX] = _object(Scaling, "Autoscaling bounds and targets.")
    rollout: Annotated[Rollout, GATE_LONGER_THAN_TEST] = _object(Rollout, "Rollout strategy and its gate.")
    network: Network = _object(Network, "Network exposure.")
    history: History = _object(History, "Conversation history (the UI's sidebar).")
    postgres: Annotated[Postgres, POSTGRES_PASSWORD_WITH_PASSWORD_AUTH] | None = Field(
        None,
        description="PostgreSQL server of state shared by replicas (history.store, budgets.store or "
        "semanticCache.store postgres).",
    )
    semantic_cache: SemanticCache = _object(SemanticCache, "Reuse of answers to close enough questions.")
    rate_limit: RateLimit = _object(RateLimit, "Per-user request rate.")
    observability: Observability = _object(Observability, "Traces, telemetry and content logging.")
    exposure: Annotated[Exposure, ONE_ENTRY] | None = Field(
        None,
        description="HTTPS entry from outside the cluster (Ingress or HTTPRoute); unset: in-cluster only.",
    )
    trust_bundle: TrustBundle | None = Field(
        None,
        description="Private CA bundle for outgoing TLS (an in-house OIDC issuer, a TLS-inspecting egress "
        "proxy); unset: the image's public roots.",
    )


class Condition(Model):
    """metav1.Condition."""

    type: str = Field(description="Ready, Progressing, Degraded, LoadTestPassed or EvaluationPassed.")
    status: Literal["True", "False", "Unknown"] = Field(description="Condition status.")
    observed_generation: int | None = Field(None, description="Generation the condition was computed for.")
    last_transition_time: datetime = Field(description="When status last changed.")
    reason: str = Field(description="CamelCase reason.")
    message: str = Field("", description="What happened and what to do.")


class RevisionStatus(Model):
    """Pod-template revisions: the one serving and the one under test."""

    current: str | None = Field(None, description="Revision the stable Deployment serves.")
    candidate: str | None = Field(None, description="Revision being gated (or the one that last failed).")
    stable_spec: dict[str, Any] | None = Field(
        None,
        description="Spec of the current revision; the stable Deployment is rendered from it while gating.",
    )
    inputs_digest: str | None = Field(
        None, description="Digest of the referenced ConfigMaps (prompts, documents) of the current revision."
    )
    previous: str | None = Field(None, description="Revision served before the current one (bake rollback).")
    previous_spec: dict[str, Any] | None = Field(
        None, description="Spec of the previous revision, rendered again if the current one fails its bake."
    )
    previous_inputs_digest: str | None = Field(None, description="Inputs digest of the previous revision.")


class RolloutStatus(Model):
    """Where the gated rollout state machine is."""

    phase: Literal["Idle", "Testing", "Baking", "Failed"] = Field(
        "Idle", description="Idle, Testing (gate), Baking (promoted, live SLOs watched) or Failed."
    )
    run: str | None = Field(None, description="Name of the load-test run (Job) of the candidate.")
    started_at: datetime | None = Field(None, description="When the gate (or the bake) started.")
    message: str | None = Field(None, description="Last gate outcome.")


class LoadTestStatus(Model):
    """Figures of the last load test."""

    revision: str | None = Field(None, description="Revision tested.")
    passed: bool | None = Field(None, description="All SLOs held.")
    scenario: str | None = Field(None, description="Scenario run.")
    requests: int | None = Field(None, description="Requests made.")
    ttft_p50_ms: float | None = Field(None, description="Time to first token p50, ms.")
    ttft_p95_ms: float | None = Field(None, description="Time to first token p95, ms.")
    ttft_p99_ms: float | None = Field(None, description="Time to first token p99, ms.")
    error_rate_percent: float | None = Field(None, description="Failed requests, %.")
    requests_per_second: float | None = Field(None, description="Requests per second.")
    tokens_per_second: float | None = Field(None, description="Streamed tokens per second.")
    failed_slo: str | None = Field(
        None, description="First SLO that failed, with its limit and measured value."
    )
    started_at: datetime | None = Field(None, description="Start of the run.")
    finished_at: datetime | None = Field(None, description="End of the run.")


class EvaluationStatus(Model):
    """Scores of the gate's last evaluation and what exactly was evaluated (for an auditor)."""

    revision: str | None = Field(None, description="Revision evaluated.")
    passed: bool | None = Field(None, description="Every threshold held.")
    scores: dict[str, float] = Field(
        default_factory=dict, description="Metric averages and latency percentiles (ms) measured."
    )
    failed_metric: str | None = Field(
        None, description="First threshold that failed, with the measured value, or why no verdict."
    )
    set_sha256: str | None = Field(None, description="SHA-256 of the eval set file evaluated.")
    cases: int | None = Field(None, description="Cases in the eval set.")
    failed_cases: int | None = Field(None, description="Cases whose turn failed (HTTP error).")
    prompt_versions: dict[str, str] = Field(
        default_factory=dict, description="Prompt id -> version the answers were produced with."
    )
    deployments: list[str] = Field(default_factory=list, description="Model deployments that answered.")
    judge_deployment: str | None = Field(None, description="Deployment that rated the answers (judge).")
    judge_prompt_versions: dict[str, str] = Field(
        default_factory=dict, description="Judge prompt id -> version of the rubric that rated them."
    )
    judge_unscored: int | None = Field(
        None, description="Judge ratings left unscored (429s, unparsable replies): judge thresholds fail."
    )
    finished_at: datetime | None = Field(None, description="When the verdict was read.")


class ScalingStatus(Model):
    """Streams per replica the HPA uses and where the figure came from."""

    streams_per_replica: int | None = Field(None, description="Target in-flight streams per pod.")
    source: Literal["spec", "calibrated", "default"] | None = Field(None, description="Origin of the figure.")
    knee_concurrency: float | None = Field(
        None, description="Concurrency where one pod's TTFT p95 crossed the SLO."
    )
    calibrated_at: datetime | None = Field(None, description="When the calibration ran.")
    revision: str | None = Field(None, description="Revision the calibration ran against.")


class AzureWiringStatus(Model):
    """What Azure must trust and grant before the pods can call Azure OpenAI, AI Search and Content Safety."""

    client_id: str = Field(description="Client id of the managed identity (spec.identity.clientId).")
    service_account_subject: str = Field(
        description="Subject of the pods' tokens the federated credential must name."
    )
    oidc_issuer: str | None = Field(
        None, description="The cluster's service-account issuer (from the API server's OIDC discovery)."
    )
    federated_credential_command: str = Field(description="The exact az command creating the credential.")
    role_assignments: list[str] = Field(
        default_factory=list, description="Roles the identity needs, on which resources."
    )


class ChatApplicationStatus(Model):
    """Observed state, written by the operator only."""

    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing, Degraded, LoadTestPassed, EvaluationPassed."
    )
    replicas: int | None = Field(None, description="Replicas of the stable Deployment.")
    ready_replicas: int | None = Field(None, description="Ready replicas of the stable Deployment.")
    endpoint: str | None = Field(None, description="In-cluster URL of the chat service.")
    revision: RevisionStatus = Field(default_factory=RevisionStatus, description="Revisions.")
    rollout: RolloutStatus = Field(default_factory=RolloutStatus, description="Gated rollout progress.")
    load_test: LoadTestStatus | None = Field(None, description="Last load test.")
    evaluation: EvaluationStatus | None = Field(None, description="Last evaluation of the gate.")
    scaling: ScalingStatus | None = Field(None, description="Calibrated scaling figures.")
    azure: AzureWiringStatus | None = Field(
        None, description="Federated credential and role assignments the identity needs."
    )


class ObjectMeta(BaseModel):
    """The parts of metadata the operator needs."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=253), NAME_LENGTH]
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ChatApplication(Model):
    """A whole ChatApplication object, as read from YAML or the API server."""

    model_config = ConfigDict(
        json_schema_extra={VALIDATIONS_KEY: [NAME_LENGTH.as_validation()]}, extra="ignore"
    )

    # Literal types take literal strings only (and mypy wants the defaults spelled too);
    # tests/unit/controller/test_spec.py ties them to the contract.
    api_version: Literal["chatfleet.dev/v1alpha1"] = Field("chatfleet.dev/v1alpha1", alias="apiVersion")
    kind: Literal["ChatApplication"] = "ChatApplication"
    metadata: ObjectMeta
    spec: Annotated[
        ChatApplicationSpec,
        DOCUMENTS_NEED_LOCAL_INDEX,
        HISTORY_SQLITE_ONE_REPLICA,
        HISTORY_POSTGRES_NEEDS_SERVER,
        BUDGETS_POSTGRES_NEEDS_SERVER,
        SEMANTIC_CACHE_POSTGRES_NEEDS_SERVER,
        OVERRIDES_IN_TENANTS,
    ]
    status: ChatApplicationStatus = Field(default_factory=ChatApplicationStatus)
