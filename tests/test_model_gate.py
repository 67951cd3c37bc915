"""Model work started by requests is bounded per person and in total (assistant/gate.py): 45 parallel questions from
one person no longer starve everybody else, and a question whose client went away stops generating."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.gate import ModelBusyError, ModelGate, PersonBusyError
from assistant.llm import GenerationParams, Message
from tests.fakes import FakeLLM
from tests.harness import Kontor
from tests.servers import serving

WORDS = 60


class SlowLLM(FakeLLM):
    """Streams ``WORDS`` words, ``delay`` seconds each, and counts what it produced."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.produced = 0
        self.lock = threading.Lock()

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.history.append(messages)
        for n in range(WORDS):
            time.sleep(self.delay)
            with self.lock:
                self.produced += 1
            yield f"Wort{n} "


QUESTION = {"text": "Wie lange dauert der Versand nach Österreich?"}


def test_the_gate_counts_per_person_and_in_total() -> None:
    gate = ModelGate(per_person=1, total=2)
    with gate.slot("anna"):
        with pytest.raises(PersonBusyError) as mine, gate.slot("anna"):
            pass
        assert mine.value.status == 429 and mine.value.headers() == {"Retry-After": "5"}
        with gate.slot("eva"), pytest.raises(ModelBusyError) as everybody, gate.slot("adam"):
            pass
        assert everybody.value.status == 503
    assert gate.running() == 0


def test_45_parallel_questions_from_one_person_do_not_starve_the_others(tmp_path: Path, knowledge: Path) -> None:
    kontor = Kontor(tmp_path, knowledge, llm=SlowLLM(delay=0.05))
    answers: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(45)

    def ask() -> None:
        start.wait()
        answer = kontor.call("POST", "/api/ask", "agent", json=QUESTION)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=ask) for _ in range(45)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the one that got through is generating now
    me = kontor.call("GET", "/api/me", "expert")
    other = kontor.call("POST", "/api/ask", "expert", json=QUESTION)  # another person: the second slot
    for thread in threads:
        thread.join(60)

    assert me.status_code == 200 and other.status_code == 200, other.text
    codes = Counter(a.status_code for a in answers)
    assert codes[200] >= 1 and codes[200] + codes[429] == 45 and codes[429] >= 40, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["Retry-After"] == "5" and "läuft noch" in refused.json()["detail"]
    assert kontor.services.model_gate.running() == 0


@pytest.fixture
def served(tmp_path: Path, knowledge: Path) -> Iterator[tuple[Kontor, SlowLLM, str]]:
    """The harness's app behind a real uvicorn on loopback (a closed connection is only seen over a socket)."""
    llm = SlowLLM(delay=0.1)
    kontor = Kontor(tmp_path, knowledge, llm=llm)
    with serving(kontor.app) as base:
        yield kontor, llm, base


def test_a_question_whose_client_went_away_stops_generating(served: tuple[Kontor, SlowLLM, str]) -> None:
    kontor, llm, base = served
    headers = {"Authorization": f"Bearer {kontor.tokens['agent']}"}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after a second and closes the connection
        httpx.post(f"{base}/api/ask", headers=headers, json=QUESTION, timeout=1.0)
    deadline = time.monotonic() + 5
    while kontor.services.model_gate.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kontor.services.model_gate.running() == 0  # the slot is free again …
    stopped_at = llm.produced
    time.sleep(0.5)
    assert llm.produced == stopped_at < WORDS  # … because generation stopped, long before its end
    again = httpx.post(f"{base}/api/ask", headers=headers, json=QUESTION, timeout=30)
    assert again.status_code == 200  # the person is not locked out


def test_a_full_gate_answers_429_and_503_with_retry_after_over_http(served: tuple[Kontor, SlowLLM, str]) -> None:
    """Over a real socket: Anna's second question while her first runs is 429, and a third person's while Anna's
    and Eva's fill both slots (KONTOR_MODEL_REQUESTS=2) is 503 — each with ``Retry-After``; then all is free again."""
    kontor, _, base = served
    gate = kontor.services.model_gate

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {kontor.tokens[role]}"}

    def ask(role: str) -> httpx.Response:
        return httpx.post(f"{base}/api/ask", headers=headers(role), json=QUESTION, timeout=60)

    def running(count: int) -> bool:
        deadline = time.monotonic() + 10
        while gate.running() != count and time.monotonic() < deadline:
            time.sleep(0.02)
        return gate.running() == count

    answers: dict[str, httpx.Response] = {}
    first = threading.Thread(target=lambda: answers.__setitem__("agent", ask("agent")))
    first.start()
    assert running(1)
    mine = ask("agent")
    assert mine.status_code == 429 and mine.headers["Retry-After"] == "5", mine.text
    second = threading.Thread(target=lambda: answers.__setitem__("expert", ask("expert")))
    second.start()
    assert running(2)
    everybody = ask("admin")
    assert everybody.status_code == 503 and int(everybody.headers["Retry-After"]) > 0, everybody.text
    assert everybody.json()["detail"]
    first.join(30)
    second.join(30)
    assert answers["agent"].status_code == answers["expert"].status_code == 200
    assert gate.running() == 0 and ask("admin").status_code == 200
