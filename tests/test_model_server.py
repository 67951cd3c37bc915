"""The model-server backend (``KONTOR_LLM_BACKEND=openai``): round robin, failover before the first piece, cool-down
and health checks with scripted servers (httpx.MockTransport); then the same against real
`python -m llama_cpp.server` processes on loopback serving the embedded model file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from assistant.categorise.categories import load_categories
from assistant.config import PROJECT_ROOT, Settings
from assistant.llm import GenerationParams, LLMError, Message, OpenAICompatibleLLM, make_llm
from assistant.models import embedded_model
from assistant.prompts import PromptLibrary
from tests.harness import Kontor
from tests.servers import free_port

SHORT = GenerationParams(max_tokens=12)
HELLO: list[Message] = [{"role": "user", "content": "Sag Hallo."}]

# --- scripted servers ------------------------------------------------------------------------------------------


def _event(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


class _Breaks(httpx.SyncByteStream):
    """A stream that sends its first events, then loses the connection."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events
        raise httpx.ReadError("connection lost")


class Scripted:
    """OpenAI-compatible servers by host name, each doing what ``mode`` says (default ``ok``); records requests.
    Modes: ok, refuse (no connection), 500, 400, break (two pieces, then the connection drops), cut (two pieces,
    then the stream ends without its end mark), interrupted (two pieces and [DONE] without a finish reason), silent
    (200 and an empty body)."""

    def __init__(self) -> None:
        self.mode: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path.rsplit("/", 1)[-1]
        self.requests.append((host, path))
        mode = self.mode.get(host, "ok")
        if mode == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if path == "models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": f"model-{host}"}]})
        if mode in ("500", "400"):
            return httpx.Response(int(mode), text="kaputt")
        body = json.loads(request.content)
        if not body.get("stream"):
            return httpx.Response(200, json={"model": body["model"],
                                             "choices": [{"message": {"content": json.dumps({"from": host})}}]})
        pieces = [_event({"model": body["model"], "choices": [{"delta": {"content": text}}]})
                  for text in ("Hallo ", "von ", host)]
        if mode == "break":
            return httpx.Response(200, stream=_Breaks(pieces[:2]))
        if mode == "cut":
            return httpx.Response(200, content=b"".join(pieces[:2]))
        if mode == "interrupted":  # llama_cpp.server's end of a pre-empted answer: no finish reason
            return httpx.Response(200, content=b"".join(pieces[:2]) + _event("[DONE]"))
        if mode == "silent":
            return httpx.Response(200, content=b"")
        end = _event({"choices": [{"delta": {}, "finish_reason": "stop"}]}) + _event("[DONE]")
        return httpx.Response(200, content=b"".join(pieces) + end)

    def asked(self, host: str) -> list[str]:
        return [path for h, path in self.requests if h == host]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scripted(*hosts: str, cool_down_s: float = 30.0) -> tuple[OpenAICompatibleLLM, Scripted, Clock]:
    servers, clock = Scripted(), Clock()
    llm = OpenAICompatibleLLM([f"http://{h}:8080/v1" for h in hosts], "local", "", 5.0, cool_down_s,
                              transport=httpx.MockTransport(servers))
    llm.pool.clock = clock
    return llm, servers, clock


def answered_by(llm: OpenAICompatibleLLM) -> str:
    return llm.served_by.rsplit(" @ ", 1)[1].split(":")[0]


def test_calls_go_round_robin_and_name_the_server_and_its_model() -> None:
    llm, servers, _ = scripted("a", "b")
    order = []
    for _ in range(2):
        assert "".join(llm.stream(HELLO, SHORT)).startswith("Hallo von ")
        order.append(answered_by(llm))
        assert json.loads(llm.complete_json(HELLO, {"type": "object"}, SHORT))["from"] == answered_by(llm)
        order.append(answered_by(llm))
    assert order == ["a", "b", "a", "b"]
    # the server echoes the requested name: its own comes from GET /models, asked on first contact only
    assert llm.served_by == "openai:local (model-b) @ b:8080"
    assert servers.asked("a") == ["models", "completions", "completions"]
    assert llm.name == "local"  # stable: evaluation runs and promotions are keyed on it


def test_a_failed_server_is_skipped_for_the_cool_down_then_health_checked() -> None:
    llm, servers, clock = scripted("a", "b")
    servers.mode["a"] = "refuse"
    for _ in range(3):  # the first call tries a (first contact: the health check), fails over to b; then a rests
        assert "".join(llm.stream(HELLO, SHORT)) == "Hallo von b"
    assert servers.asked("a") == ["models"]

    clock.now += 31  # cool-down over, still down: the health check fails, the call goes to b, a rests again
    assert "".join(llm.stream(HELLO, SHORT)).endswith("b") and "".join(llm.stream(HELLO, SHORT)).endswith("b")
    assert servers.asked("a") == ["models", "models"]

    servers.mode["a"] = "ok"
    clock.now += 31
    answered = set()
    for _ in range(2):
        llm.complete_json(HELLO, {}, SHORT)
        answered.add(answered_by(llm))
    assert answered == {"a", "b"}
    assert servers.asked("a") == ["models", "models", "models", "completions"]  # checked before use


def test_server_errors_fail_over_but_a_refused_request_does_not() -> None:
    llm, servers, _ = scripted("a", "b")
    servers.mode["a"] = "500"
    assert "".join(llm.stream(HELLO, SHORT)) == "Hallo von b"

    llm, servers, _ = scripted("a", "b")
    servers.mode["a"] = "400"  # the request itself is wrong: another server would refuse it as well
    with pytest.raises(LLMError, match="400"):
        llm.complete_json(HELLO, {}, SHORT)
    assert servers.asked("b") == []


def test_a_stream_that_ends_before_its_first_piece_fails_over() -> None:
    llm, servers, _ = scripted("a", "b")
    servers.mode["a"] = "silent"
    assert "".join(llm.stream(HELLO, SHORT)) == "Hallo von b"


@pytest.mark.parametrize("mode", ["break", "cut", "interrupted"])
def test_a_server_lost_mid_answer_is_an_error_and_no_other_server_continues(mode: str) -> None:
    llm, servers, _ = scripted("a", "b")
    servers.mode["a"] = mode
    received = []
    with pytest.raises(LLMError, match="a:8080 brach die Antwort mittendrin ab") as failed:
        for piece in llm.stream(HELLO, SHORT):
            received.append(piece)
    assert received == ["Hallo ", "von "] and servers.asked("b") == []
    assert failed.value.status == 503 and "\n" not in str(failed.value)
    assert "".join(llm.stream(HELLO, SHORT)) == "Hallo von b"  # a rests now


def test_none_answering_names_how_many_servers_were_tried() -> None:
    llm, servers, clock = scripted("a", "b", "c")
    servers.mode.update(a="refuse", b="500", c="refuse")
    with pytest.raises(LLMError) as failed:
        "".join(llm.stream(HELLO, SHORT))
    message = str(failed.value)
    assert message.startswith("Kein Modellserver antwortet (3 von 3 versucht") and failed.value.status == 503
    assert "a:8080: Gesundheitsprüfung: keine Verbindung" in message and "b:8080: Status 500" in message

    servers.mode.update(a="ok")  # all cooling down: rather than give up at once, each is health-checked and tried
    assert "".join(llm.stream(HELLO, SHORT)) == "Hallo von a"
    assert servers.asked("a") == ["models", "models", "completions"]


def test_settings_take_several_base_urls() -> None:
    settings = Settings(llm_backend="openai", openai_base_urls=" http://10.0.0.5:8080/v1 , https://gpu.example/v1,")
    assert settings.llm.base_urls == ["http://10.0.0.5:8080/v1", "https://gpu.example/v1"]
    llm = make_llm(settings)
    assert isinstance(llm, OpenAICompatibleLLM)
    assert [s.label for s in llm.pool.servers] == ["10.0.0.5:8080", "gpu.example:443"]
    single = make_llm(Settings(llm_backend="openai", openai_base_url="http://127.0.0.1:9999/v1"))
    assert isinstance(single, OpenAICompatibleLLM) and [s.label for s in single.pool.servers] == ["127.0.0.1:9999"]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONTOR_OPENAI_BASE_URLS", "http://a:1/v1,http://b:2/v1")
    assert Settings().llm.base_urls == ["http://a:1/v1", "http://b:2/v1"]


def test_the_drafted_audit_entry_names_the_model_and_server(tmp_path: Path, knowledge: Path) -> None:
    servers = Scripted()
    llm = OpenAICompatibleLLM(["http://replica-1:8080/v1", "http://replica-2:8080/v1"], "local", "", 5.0,
                              transport=httpx.MockTransport(servers))
    kontor = Kontor(tmp_path, knowledge, llm=llm)
    ticket = kontor.drafted_ticket()
    model = ticket["draft"]["model"]
    assert model == "openai:local (model-replica-1) @ replica-1:8080"
    [drafted] = [e for e in kontor.audit(ticket["id"]) if e["action"] == "drafted"]
    assert drafted["detail"]["model"] == model


# --- real llama.cpp servers ------------------------------------------------------------------------------------


def start_llama_server(alias: str) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m llama_cpp.server` with the embedded model file on a free loopback port (not waited for)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model().path), "--model_alias",
               alias, "--n_ctx", "2048", "--n_threads", "1", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}/v1"


def wait_until_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"llama_cpp.server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("llama_cpp.server did not answer /v1/models within a minute")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def real_servers() -> Iterator[list[str]]:
    """Two llama.cpp servers with the embedded model (replicas "smollm2"), started together."""
    started = [start_llama_server("smollm2") for _ in range(2)]
    try:
        for process, url in started:
            wait_until_ready(process, url)
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            stop(process)


def real(*urls: str, timeout_s: float = 60.0) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(list(urls), "kontor-test", "", timeout_s)


def story() -> list[Message]:
    return [{"role": "user", "content": "Erzähle eine sehr lange Geschichte über einen Hund."}]


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


def label(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


@pytest.mark.slow
def test_real_stream_arrives_in_pieces(real_servers: list[str]) -> None:
    llm = real(real_servers[0])
    pieces = list(llm.stream([{"role": "user", "content": "Zähle von eins bis zehn."}],
                             GenerationParams(max_tokens=24)))
    assert len(pieces) >= 5 and "".join(pieces).strip()
    assert llm.served_by == f"openai:kontor-test (smollm2) @ {label(real_servers[0])}"


@pytest.mark.slow
def test_real_categorisation_is_json_valid_against_the_schema(real_servers: list[str]) -> None:
    # two candidates: llama.cpp's grammar-constrained sampling costs seconds per candidate on these machines
    categories = load_categories(PROJECT_ROOT / "knowledge" / "categories.yaml").categories[:2]
    schema = {"type": "object", "properties": {"category": {"type": "string", "enum": [c.id for c in categories]}},
              "required": ["category"]}  # as the categoriser builds it
    prompt = PromptLibrary(PROJECT_ROOT / "prompts").resolve("categorise", "production")
    messages = prompt.render({"name": "Kochwerk Lindner GmbH"}, candidates=categories,
                             text="Meine Bestellung ist seit zwei Wochen nicht angekommen. Wo bleibt das Paket?")
    answer = real(real_servers[0]).complete_json(messages, schema, prompt.meta.params)
    jsonschema.validate(json.loads(answer), schema)


@pytest.mark.slow
def test_real_timeout_gives_a_clear_error(real_servers: list[str]) -> None:
    llm = real(real_servers[1], timeout_s=0.05)
    with pytest.raises(LLMError, match=r"Zeitüberschreitung nach 0.05 s") as failed:
        "".join(llm.stream(story(), GenerationParams(max_tokens=400)))
    assert failed.value.status == 503


@pytest.mark.slow
def test_real_server_dying_mid_stream_is_an_error(real_servers: list[str]) -> None:
    process, url = start_llama_server("smollm2")
    try:
        wait_until_ready(process, url)
        llm = real(url, real_servers[0])  # the dying server is asked first; the healthy one must not continue
        received = []
        with pytest.raises(LLMError, match="brach die Antwort mittendrin ab"):
            for piece in llm.stream(story(), GenerationParams(max_tokens=400)):
                received.append(piece)
                if len(received) == 3:
                    process.send_signal(signal.SIGKILL)
        assert 3 <= len(received) < 400 and llm.served_by.endswith(label(url))
    finally:
        stop(process)


@pytest.mark.slow
def test_real_pre_empted_answer_is_an_error_not_a_short_answer(real_servers: list[str]) -> None:
    """llama_cpp.server ends a running answer with [DONE] when another request arrives (its default
    --interrupt_requests): the text so far must not pass for the whole answer."""
    llm = real(real_servers[1])
    received: list[str] = []
    other = threading.Thread(target=lambda: httpx.get(f"{real_servers[1]}/models", timeout=30))
    with pytest.raises(LLMError, match="mittendrin ab \\(Antwort unvollständig\\)"):
        for piece in llm.stream(story(), GenerationParams(max_tokens=400)):
            received.append(piece)
            if len(received) == 3:
                other.start()
    other.join()
    assert 3 <= len(received) < 400


@pytest.mark.slow
def test_real_failover_from_a_closed_port(real_servers: list[str]) -> None:
    llm = real(closed_port(), real_servers[0])
    assert "".join(llm.stream(HELLO, SHORT)).strip()
    assert llm.served_by.endswith(label(real_servers[0]))


@pytest.mark.slow
def test_real_round_robin_alternates(real_servers: list[str]) -> None:
    llm = real(*real_servers)
    served = []
    for _ in range(4):
        "".join(llm.stream(HELLO, GenerationParams(max_tokens=4)))
        served.append(llm.served_by.rsplit(" @ ", 1)[1])
    assert served == [label(u) for u in real_servers] * 2


def test_none_answering_on_loopback_gives_the_german_error() -> None:
    llm = real(closed_port(), closed_port())
    with pytest.raises(LLMError, match=r"^Kein Modellserver antwortet \(2 von 2 versucht") as failed:
        llm.complete_json(HELLO, {"type": "object"}, SHORT)
    assert "keine Verbindung" in str(failed.value) and failed.value.status == 503
