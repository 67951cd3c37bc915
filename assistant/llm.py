"""Language-model interface and its backends: llama.cpp in process (the only module importing llama_cpp) and
any OpenAI-compatible HTTP server (llama.cpp server, vLLM, Ollama)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, TypeVar

import httpx
from pydantic import BaseModel, Field

from assistant.config import Settings
from assistant.errors import UnavailableError
from assistant.models import ModelInfo, resolve_model, verify_model


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class GenerationParams(BaseModel):
    max_tokens: int = Field(200, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0)
    stop: list[str] = Field(default_factory=list)
    seed: int = 42


T = TypeVar("T")


class LLMError(UnavailableError):
    """The model could not be loaded or did not answer."""


class LLM(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        """Yield the answer text piece by piece."""
        ...

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        """Return JSON text that the backend constrained to ``schema``."""
        ...


class LlamaCppLLM:
    """GGUF model in this process. One generation at a time (llama.cpp contexts are not thread-safe); the
    shared prompt prefix is reused from the KV cache between calls."""

    def __init__(self, info: ModelInfo, n_ctx: int, n_threads: int) -> None:
        try:
            import llama_cpp  # the native library loads at import: only when the model is loaded
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise LLMError("llama-cpp-python fehlt: bitte `make setup` ausführen") from exc
        verify_model(info)
        self.name = info.name
        self.sha256 = info.sha256
        self._model = llama_cpp.Llama(
            model_path=str(info.path), n_ctx=n_ctx, n_threads=n_threads or None, verbose=False, seed=42,
        )
        self._lock = threading.Lock()
        self.control_texts = _control_texts(llama_cpp, self._model)
        self._control = _alternation(self.control_texts)

    def defuse(self, messages: list[Message]) -> list[Message]:
        """Every control token of this model's vocabulary (`<|im_start|>`, but also SmolLM2's `<repo_name>`,
        `<file_sep>` …, or whatever the registered model has) in a message text gets a zero-width joiner
        after its first character, so llama.cpp tokenises it as text: only the chat template it applies
        opens and closes turns. The prompt renderer's list of common markers does the same for every backend;
        this one is exact for the loaded vocabulary."""
        return [{**m, "content": defuse_control_texts(m["content"], self._control)} for m in messages]

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        with self._lock:
            self._model.set_seed(params.seed)
            chunks = self._model.create_chat_completion(
                messages=self.defuse(messages), stream=True, **_sampling(params)  # type: ignore[arg-type]
            )
            for chunk in chunks:
                delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
                if delta.get("content"):
                    yield str(delta["content"])

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        with self._lock:
            self._model.set_seed(params.seed)
            result = self._model.create_chat_completion(
                messages=self.defuse(messages),  # type: ignore[arg-type]
                response_format={"type": "json_object", "schema": schema},
                **_sampling(params),
            )
        return str(result["choices"][0]["message"]["content"] or "")  # type: ignore[index]

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=False))

    def reset_cache(self) -> None:
        """Forget the cached prompt prefix (benchmarks compare cold calls)."""
        with self._lock:
            self._model.reset()


def _control_texts(llama_cpp: Any, model: Any) -> list[str]:
    """The texts of the vocabulary's control (and unknown) tokens: those llama.cpp turns into special tokens
    when it tokenises a rendered chat prompt. Texts shorter than two characters cannot be split and are no
    markers (none of the shipped vocabularies has one)."""
    vocab = model._model.vocab
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    texts = set()
    for token in range(model.n_vocab()):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & special:
            piece = model.detokenize([token], special=True).decode("utf-8", errors="ignore")
            if len(piece) >= 2:
                texts.add(piece)
    return sorted(texts, key=lambda t: (-len(t), t))


def _alternation(texts: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(t) for t in texts)) if texts else None


def defuse_control_texts(text: str, pattern: re.Pattern[str] | None) -> str:
    """Insert a zero-width joiner after the first character of each control-token text; repeated until none is
    left, since a marker's tail may itself be another marker (bounded: each round splits at least one)."""
    if pattern is None:
        return text
    for _ in range(100):
        defused = pattern.sub(lambda m: m.group()[0] + "\u200d" + m.group()[1:], text)
        if defused == text:
            return text
        text = defused
    raise LLMError("Steuerzeichen des Modells ließen sich nicht entschärfen")


HEALTH_TIMEOUT_S = 2.0  # GET /models on first contact and after a failure, before a server is used (again)
RETRY_STATUS = {408, 429}  # besides 5xx: the next server may take the call


class _ServerFailed(Exception):
    """A model server did not answer, or broke off (German reason, one line)."""


@dataclass
class _Server:
    url: str
    label: str  # host:port, for messages and the model's identity
    failed_at: float | None = None  # monotonic time of the last failure; None: in good standing
    models: list[str] | None = None  # what GET /models listed; None: not asked yet


class ServerPool:
    """The OpenAI-compatible servers of one model: each call starts at the next server (round robin) and goes on to
    the following one while a server fails before its answer began. A failed server is skipped for ``cool_down_s``
    and health-checked (GET /models) before it is used again, as on first contact; only when no other server
    answered is one still cooling down asked (health check first) rather than giving up at once."""

    def __init__(self, urls: list[str], client: httpx.Client, cool_down_s: float, health_timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise LLMError("Kein Modellserver eingestellt (KONTOR_OPENAI_BASE_URLS)")
        self.servers = [_Server(url.rstrip("/"), _host_port(url)) for url in urls]
        self._client = client
        self._cool_down_s = cool_down_s
        self._health_timeout_s = health_timeout_s
        self.clock = clock  # tests step it
        self._next = 0
        self._lock = threading.Lock()

    def call(self, attempt: Callable[[_Server], T]) -> T:
        """``attempt`` on one server after the other until one answers; LLMError naming every server tried."""
        reasons = []
        for server in self._turn():
            try:
                if server.failed_at is not None or server.models is None:
                    self._check(server)  # after a failure, and on first contact (which also learns its model)
                result = attempt(server)
            except _ServerFailed as exc:
                self.failed(server)
                reasons.append(f"{server.label}: {exc}")
                continue
            server.failed_at = None
            return result
        raise LLMError(f"Kein Modellserver antwortet ({len(reasons)} von {len(self.servers)} versucht – "
                       + "; ".join(reasons) + ")")

    def failed(self, server: _Server) -> None:
        server.failed_at = self.clock()

    def _turn(self) -> list[_Server]:
        """This call's order: from the next server on; those still cooling down after a failure last."""
        with self._lock:
            start = self._next
            self._next = (start + 1) % len(self.servers)
        turn = self.servers[start:] + self.servers[:start]
        now = self.clock()
        cooling = [s for s in turn if s.failed_at is not None and now - s.failed_at < self._cool_down_s]
        return [s for s in turn if s not in cooling] + cooling

    def _check(self, server: _Server) -> None:
        """The health check: GET /models answers within a short time (and says which models the server has).
        llama_cpp.server (unless started with ``--interrupt_requests False``) pre-empts a running answer for any
        new request, this one too: that answer then ends without a finish reason and is refused as broken."""
        try:
            response = self._client.get(server.url + "/models", timeout=self._health_timeout_s)
        except httpx.HTTPError as exc:
            raise _ServerFailed(f"Gesundheitsprüfung: {_reason(exc, self._health_timeout_s)}") from exc
        if response.status_code != 200:
            raise _ServerFailed(f"Gesundheitsprüfung: Status {response.status_code}")
        try:
            listed = response.json().get("data", [])
            server.models = [str(m["id"]) for m in listed if isinstance(m, dict) and "id" in m]
        except (ValueError, AttributeError, TypeError) as exc:
            raise _ServerFailed("Gesundheitsprüfung: unlesbare Antwort") from exc


class OpenAICompatibleLLM:
    """Any server with the OpenAI chat-completions API, e.g. `python -m llama_cpp.server`, vLLM or Ollama; one or
    several replicas of the same model (``ServerPool``). A call fails over to the next server only before the first
    piece of the answer arrived: two servers' text is never mixed."""

    def __init__(self, base_urls: str | list[str], model: str, api_key: str, timeout_s: float,
                 cool_down_s: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.name = model  # stable: evaluation runs and promotions are keyed on it
        self.sha256 = ""  # the server owns the file; its identity is the model name
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)
        self._timeout_s = timeout_s
        urls = [base_urls] if isinstance(base_urls, str) else base_urls
        self.pool = ServerPool(urls, self._client, cool_down_s, min(HEALTH_TIMEOUT_S, timeout_s))
        self._served = threading.local()

    @property
    def served_by(self) -> str:
        """Which model on which server answered this thread's last call, e.g.
        ``openai:local (smollm2) @ 10.0.0.5:8080`` (configured name, the server's reported model, host:port)."""
        return str(getattr(self._served, "identity", f"openai:{self.name}"))

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        body = {"model": self.name, "messages": messages, "stream": True, **_sampling(params)}
        server, stack, pieces, first = self.pool.call(lambda server: self._open_stream(server, body))
        with stack:
            self._note(server, pieces.model)
            if first is None:
                return
            yield first
            try:
                yield from pieces
            except (httpx.HTTPError, _ServerFailed) as exc:
                self.pool.failed(server)
                raise LLMError(f"Der Modellserver {server.label} brach die Antwort mittendrin ab "
                               f"({_reason(exc, self._timeout_s)}); der angefangene Text gilt nicht") from exc

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        body = {
            "model": self.name, "messages": messages, **_sampling(params),
            "response_format": {"type": "json_object", "schema": schema},
        }
        server, content, reported = self.pool.call(lambda server: self._post(server, body))
        self._note(server, reported)
        return content

    def _open_stream(self, server: _Server, body: dict[str, Any]) -> tuple[_Server, ExitStack, _Pieces, str | None]:
        """The stream of ``server`` up to its first piece of text (None: an empty answer)."""
        stack = ExitStack()
        try:
            response = stack.enter_context(self._client.stream("POST", server.url + "/chat/completions", json=body))
            _check_status(response)
            pieces = _Pieces(response)
            return server, stack, pieces, next(iter(pieces), None)  # failures up to here: the next server
        except httpx.HTTPError as exc:
            stack.close()
            raise _ServerFailed(_reason(exc, self._timeout_s)) from exc
        except BaseException:
            stack.close()
            raise

    def _post(self, server: _Server, body: dict[str, Any]) -> tuple[_Server, str, str]:
        try:
            response = self._client.post(server.url + "/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise _ServerFailed(_reason(exc, self._timeout_s)) from exc
        _check_status(response)
        try:
            data = response.json()
            return server, str(data["choices"][0]["message"]["content"] or ""), str(data.get("model") or "")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _ServerFailed("unlesbare Antwort") from exc

    def _note(self, server: _Server, answered: str) -> None:
        """Remember for this thread who answered: a server that names its model in the answer (vLLM, Ollama) is
        believed; one that echoes the requested name (llama.cpp server) is asked through GET /models."""
        listed = server.models or []
        reported = answered if answered and answered != self.name else (
            self.name if self.name in listed else (listed[0] if listed else answered))
        identity = f"openai:{self.name}" + (f" ({reported})" if reported else "") + f" @ {server.label}"
        self._served.identity = identity[:200]  # the draft's model column


class _Pieces:
    """The text pieces of one streamed answer (server-sent events); ``model`` is what the server says it ran. An
    answer whose events end without a finish reason is broken, not short."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.model = ""
        self._done = False
        self._pieces = self._read()

    def __iter__(self) -> Iterator[str]:
        return self._pieces  # one pass: the first piece and the rest come from the same reader

    def _read(self) -> Iterator[str]:
        for line in self._response.iter_lines():
            data = line.strip()[5:].strip() if line.startswith("data:") else None
            if data is None:
                continue
            if data == "[DONE]":
                break  # without a finish reason before it: interrupted (llama_cpp.server ends so when pre-empted)
            yield from self._chunk(data)
        if not self._done:
            raise _ServerFailed("Antwort unvollständig")

    def _chunk(self, data: str) -> Iterator[str]:
        try:
            chunk = json.loads(data)
            if "error" in chunk:
                raise _ServerFailed(f"Fehler des Servers: {str(chunk['error'])[:200]}")
            choice = chunk["choices"][0] if chunk.get("choices") else {}
            self.model = str(chunk.get("model") or self.model)
            self._done = self._done or bool(choice.get("finish_reason"))
            text = (choice.get("delta") or {}).get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _ServerFailed("unlesbare Antwort") from exc
        if text:
            yield str(text)


def _check_status(response: httpx.Response) -> None:
    """5xx (and 408/429): the next server may answer; any other error is the request's own fault."""
    if response.status_code < 400:
        return
    response.read()
    if response.status_code >= 500 or response.status_code in RETRY_STATUS:
        raise _ServerFailed(f"Status {response.status_code}")
    raise LLMError(f"Modellserver antwortet mit {response.status_code}: {' '.join(response.text[:200].split())}")


def _reason(exc: BaseException, timeout_s: float) -> str:
    """Why a server failed, in German, one line."""
    if isinstance(exc, httpx.TimeoutException):
        return f"Zeitüberschreitung nach {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "keine Verbindung"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "Verbindung abgebrochen"
    if isinstance(exc, httpx.HTTPError):
        return f"Übertragungsfehler ({type(exc).__name__})"
    return str(exc)


def _host_port(url: str) -> str:
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host}:{port}"


def served(llm: LLM) -> LLM:
    """The model as a draft names it: a model server's drafts record which model on which server answered
    (``Draft.model`` → the draft row → the audit log); other backends are their own name already."""
    return _Served(llm) if isinstance(llm, OpenAICompatibleLLM) else llm


class _Served:
    def __init__(self, llm: OpenAICompatibleLLM) -> None:
        self._llm = llm
        self.sha256 = llm.sha256

    @property
    def name(self) -> str:
        return self._llm.served_by

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        return self._llm.stream(messages, params)

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        return self._llm.complete_json(messages, schema, params)


def count_tokens(llm: LLM, text: str) -> int:
    """Tokens by the model's own tokenizer where the backend has one, else the usual estimate of 4 characters."""
    counter = getattr(llm, "count_tokens", None)
    return int(counter(text)) if callable(counter) else max(1, len(text) // 4)


def _sampling(params: GenerationParams) -> dict[str, Any]:
    values = params.model_dump(exclude={"seed"})
    if not values["stop"]:
        values.pop("stop")
    return values


def make_llm(settings: Settings) -> LLM:
    chosen = settings.llm
    if chosen.llm_backend == "openai":
        return OpenAICompatibleLLM(chosen.base_urls, chosen.openai_model, chosen.openai_api_key,
                                   chosen.llm_timeout_s, chosen.openai_cool_down_s)
    return LlamaCppLLM(resolve_model(settings), chosen.n_ctx, chosen.n_threads)
