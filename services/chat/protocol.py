"""Wire models of the chat API: the Microsoft AI Chat Protocol (as used by azure-search-openai-demo) and the
OpenAI chat-completions subset, so existing RAG front ends and the `openai` SDK both speak to the service.

Limits that depend on settings (message count, characters) are checked in `chain.limits`; the structural
ones (roles, types, ranges, unknown override keys) are enforced here and surface as 422 problem details.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    """One turn of the conversation as the client sends it. There is no `system` role: the system prompt
    comes from the prompt library, and letting callers replace it would be a built-in jailbreak."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class Overrides(BaseModel):
    """Per-request knobs a caller may turn; anything not listed is refused (422), never silently ignored.

    Nothing here can widen the tenant filter: the tenant comes from the verified token only.
    """

    model_config = ConfigDict(extra="forbid")

    top: int | None = Field(
        None, ge=1, le=50, description="Number of sources to retrieve (capped by max_top)."
    )
    retrieval_mode: Literal["hybrid", "text", "vectors"] | None = None
    semantic_ranker: bool | None = None
    minimum_search_score: float | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Capped by max_output_tokens.")
    suggest_followup_questions: bool = False
    include_category: str | None = Field(
        None, max_length=200, description="Reserved: category filters need an index field."
    )


class RequestContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: Overrides = Field(default_factory=Overrides)


class ChatRequest(BaseModel):
    """Body of POST /chat and POST /chat/stream."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=1)
    context: RequestContext = Field(default_factory=RequestContext)
    session_state: Any = None


class Thought(BaseModel):
    """One step of the chain shown to the user (and the UI's "thought process" tab)."""

    title: str
    description: Any = None
    props: dict[str, Any] = Field(default_factory=dict)


class Citation(BaseModel):
    """A retrieved source the answer may cite as `[id]`."""

    id: str
    source: str
    title: str
    content: str
    score: float


class DataPoints(BaseModel):
    """`text` matches the reference app (`"id: content"`); `citations` is the structured form the UI uses."""

    text: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)


class ResponseContext(BaseModel):
    data_points: DataPoints = Field(default_factory=DataPoints)
    thoughts: list[Thought] = Field(default_factory=list)
    followup_questions: list[str] | None = None
    turn_id: str | None = None
    """Names this answer in POST /chat/feedback."""


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatResponse(BaseModel):
    """Body of POST /chat."""

    message: ResponseMessage
    context: ResponseContext
    session_state: Any = None


# --- OpenAI-compatible subset -----------------------------------------------------------------------------


class OpenAIMessage(BaseModel):
    """OpenAI message; content may be a string or a list of text parts (what newer SDKs send)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class OpenAIChatRequest(BaseModel):
    """The fields of /v1/chat/completions this service honours; unknown fields are ignored as OpenAI clients
    send many (user, logprobs, ...) and refusing them would break tools."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, max_length=200)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    n: int = Field(1, ge=1, le=1, description="Only one choice is produced.")
