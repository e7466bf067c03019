"""The eval client against a real HTTP stand-in: the stream's parts, retries, failures, credentials."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from chatfleet.eval.client import ServiceUnreachable, ask, wait_until_reachable
from tests.helpers.http_stub import JsonHandler, serve_http

CONTEXT = {
    "delta": {"role": "assistant"},
    "context": {
        "data_points": {"citations": [{"id": "a.md#0", "source": "a.md", "content": "Alpha is 1."}]},
        "thoughts": [{"title": "Prompt to generate answer", "props": {"prompt_versions": {"answer": "3"}}}],
    },
}
CLOSING = {"delta": {}, "context": {"thoughts": [{"title": "Answer", "props": {"deployment": "eu"}}]}}


class Service(JsonHandler):
    """Answers with the statuses queued in `script` (then 200), recording what it was sent."""

    script: ClassVar[list[tuple[int, object]]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.read_json()
        type(self).seen.append(dict(self.headers))
        status, body = self.script.pop(0) if self.script else (200, None)
        if body == "hang":
            time.sleep(1.0)  # longer than the client's read timeout below
        if status != 200:
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Retry-After", "0")
            data = json.dumps(body).encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        lines = (
            body
            if isinstance(body, list)
            else [CONTEXT, {"delta": {"content": "Alpha is 1 [a.md#0]."}}, CLOSING]
        )
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/jsonl")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    for name in ("CHATFLEET_LOADTEST_TOKEN", "CHATFLEET_LOADTEST_TOKEN_CONTOSO"):
        monkeypatch.delenv(name, raising=False)
    Service.script, Service.seen = [], []
    with serve_http(Service) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield http


QUESTION = [{"role": "user", "content": "What is alpha?"}]


def test_reads_sources_answer_versions_and_deployment(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATFLEET_LOADTEST_TOKEN_CONTOSO", "tenant-token")
    turn = ask(client, QUESTION, "contoso", "shared-token")
    assert turn.error is None and turn.answer == "Alpha is 1 [a.md#0]."
    assert [r.id for r in turn.retrieved] == ["a.md#0"] and turn.retrieved[0].content == "Alpha is 1."
    assert turn.prompt_versions == {"answer": "3"} and turn.deployment == "eu"
    assert turn.ttft_ms is not None and turn.total_ms >= turn.ttft_ms
    sent = {k.lower(): v for k, v in Service.seen[0].items()}
    assert sent["authorization"] == "Bearer tenant-token" and sent["x-chatfleet-tenant"] == "contoso"


def test_throttling_is_retried(client: httpx.Client) -> None:
    Service.script = [(429, {"title": "Too Many Requests"}), (503, {"title": "Unavailable"})]
    turn = ask(client, QUESTION, "contoso", None)
    assert turn.error is None and turn.answer
    assert len(Service.seen) == 3
    assert not any(k.lower() == "authorization" for k in Service.seen[0])


def test_a_failed_turn_is_recorded_not_raised(client: httpx.Client) -> None:
    Service.script = [(500, {"title": "Internal", "detail": "index broken"})]
    assert ask(client, QUESTION, "contoso", None).error == "HTTP 500: index broken"
    Service.script = [(200, [CONTEXT, {"delta": {"content": "Al"}}, {"error": "upstream failed"}])]
    assert ask(client, QUESTION, "contoso", None).error == "stream error: upstream failed"
    Service.script = [(200, [CONTEXT, ["not", "an", "event"]])]
    assert ask(client, QUESTION, "contoso", None).error == "malformed stream line"


def test_a_turn_that_times_out_is_a_failed_case(client: httpx.Client) -> None:
    Service.script = [(200, "hang")]
    with httpx.Client(base_url=client.base_url, timeout=0.2) as impatient:
        turn = ask(impatient, QUESTION, "contoso", None)
    assert turn.error is not None and turn.error.startswith("ReadTimeout")


def test_refused_credentials_stop_the_run(client: httpx.Client) -> None:
    Service.script = [(401, {"title": "Unauthorized", "detail": "token expired"})]
    with pytest.raises(ServiceUnreachable, match=r"refused tenant contoso's credentials .*token expired"):
        ask(client, QUESTION, "contoso", "stale")


def test_waits_for_a_service_that_comes_up_late() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    servers: list[ThreadingHTTPServer] = []

    def serve_later() -> None:
        time.sleep(0.5)  # the first attempt finds nothing listening
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), Service))
        servers[0].serve_forever()

    threading.Thread(target=serve_later, daemon=True).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            wait_until_reachable(http, 30)
        assert servers, "returned before the service was up"
    finally:
        if servers:
            servers[0].shutdown()
            servers[0].server_close()


def test_gives_up_on_an_unreachable_service() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http,
        pytest.raises(ServiceUnreachable, match="is unreachable: ConnectError"),
    ):
        wait_until_reachable(http, 0)
