"""Language-model interface and its backends: llama.cpp in process (the only module importing llama_cpp) and
any OpenAI-compatible HTTP server (llama.cpp server, vLLM, Ollama)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any, Protocol, TypedDict

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


class LLMError(UnavailableError):
    """The model could not be loaded or did not answer."""


class LLM(Protocol):
    name: str
    sha256: str

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


class OpenAICompatibleLLM:
    """Any server with the OpenAI chat-completions API, e.g. `python -m llama_cpp.server` or vLLM."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout_s: float) -> None:
        self.name = model
        self.sha256 = ""  # the server owns the file; its identity is the model name
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        body = {"model": self.name, "messages": messages, "stream": True, **_sampling(params)}
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                _raise_for_status(response)
                for line in response.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    delta = json.loads(line[5:])["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
        except httpx.HTTPError as exc:
            raise LLMError(f"Modellserver nicht erreichbar: {exc}") from exc

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        body = {
            "model": self.name, "messages": messages, **_sampling(params),
            "response_format": {"type": "json_object", "schema": schema},
        }
        try:
            response = self._client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise LLMError(f"Modellserver nicht erreichbar: {exc}") from exc
        _raise_for_status(response)
        return str(response.json()["choices"][0]["message"]["content"] or "")


def count_tokens(llm: LLM, text: str) -> int:
    """Tokens by the model's own tokenizer where the backend has one, else the usual estimate of 4 characters."""
    counter = getattr(llm, "count_tokens", None)
    return int(counter(text)) if callable(counter) else max(1, len(text) // 4)


def _sampling(params: GenerationParams) -> dict[str, Any]:
    values = params.model_dump(exclude={"seed"})
    if not values["stop"]:
        values.pop("stop")
    return values


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.read()
        raise LLMError(f"Modellserver antwortet mit {response.status_code}: {response.text[:200]}")


def make_llm(settings: Settings) -> LLM:
    chosen = settings.llm
    if chosen.llm_backend == "openai":
        return OpenAICompatibleLLM(chosen.openai_base_url, chosen.openai_model, chosen.openai_api_key,
                                   chosen.llm_timeout_s)
    return LlamaCppLLM(resolve_model(settings), chosen.n_ctx, chosen.n_threads)
