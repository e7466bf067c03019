"""A locustfile for an OpenAI-compatible upstream (the simulator, or one Azure OpenAI deployment) directly.

It answers "how much can the load generator or the upstream take, without the chat service in between":
the benchmark uses it to measure one Locust worker against the simulator, and SREs can use it to see a
deployment's raw TTFT before blaming the service. Same TTFT/TPS rows as the chat users; the prompt carries
grounding sources from the sample corpus so answers have realistic length.
`locust -f <this file> --host http://127.0.0.1:8090 --deployment gpt-4o --headless -u 50 -t 30s`
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import FastHttpUser, events, task

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION
from chatfleet.contracts.citations import citation_id, source_line
from chatfleet.loadtests.conversations import load_conversations
from chatfleet.loadtests.options import default_corpus_dir
from chatfleet.loadtests.stream import ChatStreamReader
from chatfleet.loadtests.users import fire_stream_rows, read_lines

API_KEY_ENV = "CHATFLEET_UPSTREAM_API_KEY"
SSE_DONE = b"data: [DONE]"


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("chatfleet upstream", "OpenAI-compatible upstream load")
    group.add_argument("--deployment", default="gpt-4o", help="Azure OpenAI deployment name.")
    group.add_argument("--api-version", default=DEFAULT_API_VERSION, help="Azure OpenAI api-version.")
    group.add_argument("--max-tokens", type=int, default=256, help="max_tokens of each completion.")
    group.add_argument("--think-time", type=float, default=0.0, help="Seconds between requests of a user.")


def _prompts() -> list[list[dict[str, str]]]:
    """One grounded prompt per sample question: sources as `[id]: text` lines, like the chat chain sends."""
    corpus = default_corpus_dir()
    prompts = []
    for conversation in load_conversations():
        folder = corpus / conversation.tenant
        documents = sorted(folder.glob("*.md"))[:3] if folder.is_dir() else []
        sources = "\n".join(
            source_line(citation_id(d.name, 1), d.read_text(encoding="utf-8")[:1500]) for d in documents
        )
        prompts.append(
            [
                {"role": "system", "content": f"Answer from the sources and cite them.\n{sources}"},
                {"role": "user", "content": conversation.turns[0]},
            ]
        )
    return prompts


class SseToJsonLines:
    """Adapts OpenAI SSE chunks to the chat stream reader, so both count TTFT and tokens identically."""

    def __init__(self, reader: ChatStreamReader) -> None:
        self.reader = reader
        self.done = False

    def feed(self, raw: bytes) -> None:
        line = raw.strip()
        if not line.startswith(b"data:"):
            return
        if line == SSE_DONE:
            self.done = True
            return
        chunk = json.loads(line[5:])
        if isinstance(chunk, dict) and chunk.get("error"):
            self.reader.feed(json.dumps({"error": chunk["error"]}).encode() + b"\n")
            return
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.reader.feed(json.dumps({"delta": {"content": content}}).encode() + b"\n")


class UpstreamUser(FastHttpUser):
    """Streams chat completions from one deployment, back to back (plus optional think time)."""

    network_timeout = 120.0
    connection_timeout = 10.0
    prompts = _prompts()

    def wait_time(self) -> float:
        return float(self.environment.parsed_options.think_time)

    @task
    def complete(self) -> None:
        options = self.environment.parsed_options
        path = f"/openai/deployments/{options.deployment}/chat/completions?api-version={options.api_version}"
        body = {
            "messages": random.choice(self.prompts),  # noqa: S311 - picks a prompt
            "stream": True,
            "max_tokens": options.max_tokens,
        }
        headers = {"api-key": os.environ.get(API_KEY_ENV, "chatfleet-local")}
        reader = ChatStreamReader(started=time.perf_counter())
        name = f"/openai/deployments/{options.deployment}/chat/completions"
        with self.client.request(
            "POST", path, name=name, json=body, headers=headers, stream=True, catch_response=True
        ) as response:
            if response.status_code == 0 or response.status_code >= 400:
                response.failure(f"http {response.status_code}")
                return
            adapter = SseToJsonLines(reader)
            size, clean, transport_error = read_lines(response, adapter)
            result = reader.finish(clean and adapter.done, transport_error)
            response.request_meta["response_time"] = result.total_ms
            response.request_meta["response_length"] = size
            if result.failure:
                response.failure(result.failure)
            else:
                response.success()
        fire_stream_rows(self.environment, name, result, {})
