"""Request bodies the simulator accepts, validated so a malformed call gets a 400 naming the bad field
(as Azure does) instead of a crash. Unknown fields are accepted: real clients send many options.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_TOKENS = 1024


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    seed: int | None = None

    def output_limit(self) -> int:
        """The token cap of the answer; also what Azure charges against TPM when admitting the call."""
        return self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS

    def plain_messages(self) -> list[dict[str, Any]]:
        return [message.model_dump() for message in self.messages]


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[int] | list[list[int]]
    model: str | None = None
    dimensions: int | None = Field(None, ge=1, le=8192)
    encoding_format: Literal["float", "base64"] = "float"

    def texts(self) -> list[str]:
        """Token-array inputs are rendered as text: the simulator has no real vocabulary to decode them."""
        if isinstance(self.input, str):
            return [self.input]
        if all(isinstance(item, int) for item in self.input):
            return [" ".join(str(item) for item in self.input)]
        return [" ".join(map(str, item)) if isinstance(item, list) else str(item) for item in self.input]
