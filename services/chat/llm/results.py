"""What a router call returns: a whole completion, or stream items (token deltas then one end marker)."""

from dataclasses import dataclass


@dataclass
class Completion:
    text: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    deployment: str
    model: str
    ttft_s: float


@dataclass
class StreamDelta:
    text: str


@dataclass
class StreamEnd:
    finish_reason: str
    input_tokens: int
    output_tokens: int
    deployment: str
    model: str
    ttft_s: float
