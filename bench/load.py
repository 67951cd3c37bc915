"""A team's load: 20 agents work the review desk while the embedded model drafts new tickets.

Starts the real `kontor serve` (SQLite, the embedded model, one worker thread) on the demo company and measures:
1. Reference: one agent works drafted tickets (inbox, open, edit, approve, send) while nothing is drafted.
2. Load: 20 agents do the same for LOAD_S seconds while 60 new tickets arrive and are drafted.
   p50/p95/p99 of each non-model API call (ratio of p99 against the reference), drafts per minute, errors, and
   whether anything was lost (every posted ticket stored, every accepted send delivered exactly once).
3. 45 parallel `/api/ask` from one person: how many run, how many are refused (429/503 with Retry-After), and
   the latency of `/api/me` and of a login of somebody else meanwhile.

Usage: .venv/bin/python bench/load.py [--seconds 90]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402
from bench.ticket_flow import KONTOR, demo_mails, free_port, kontor, percentile, wait_until_up  # noqa: E402

AGENTS = 20
PASSWORD = "bench-passwort-123"


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def call(self, http: httpx.Client, name: str, method: str, path: str, ok: tuple[int, ...] = (200, 201),
             **kwargs: object) -> httpx.Response:
        started = time.perf_counter()
        response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        took = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latency[name].append(took)
            if response.status_code not in ok:
                self.errors[f"{name} {response.status_code}"] += 1
        return response


class Desk:
    """Hands each drafted ticket to one agent (as a team would split the inbox)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()
        self.lock = threading.Lock()

    def take(self, rows: list[dict[str, object]]) -> int | None:
        with self.lock:
            for row in rows:
                ticket_id = int(row["id"])  # type: ignore[call-overload]
                if row["status"] in ("drafted", "needs_human") and ticket_id not in self.taken:
                    self.taken.add(ticket_id)
                    return ticket_id
        return None


def agent(base: str, token: str, seconds: float, desk: Desk, rec: Recorder) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while time.monotonic() < deadline:
            rows = rec.call(http, "GET /api/tickets (inbox)", "GET", "/api/tickets?status=drafted&limit=50").json()
            ticket_id = desk.take(rows)
            if ticket_id is None:
                time.sleep(0.5 + random.random() * 0.5)
                continue
            view = rec.call(http, "GET /api/tickets/{id}", "GET", f"/api/tickets/{ticket_id}").json()
            draft = view["draft"]
            if draft is None:  # drafted again meanwhile: the next one
                continue
            text = (draft["text"] or "Guten Tag,\n\nvielen Dank für Ihre Nachricht.") + "\n\nViele Grüße"
            rec.call(http, "PUT /api/drafts/{id} (edit)", "PUT", f"/api/drafts/{draft['id']}", json={"text": text})
            rec.call(http, "POST approve", "POST", f"/api/drafts/{draft['id']}/approve")
            kinds = sorted({f["kind"] for f in http.get(f"/api/tickets/{ticket_id}").json()["draft"]["flags"]})
            sent = rec.call(http, "POST send", "POST", f"/api/drafts/{draft['id']}/send", json={"confirm": kinds})
            if sent.status_code == 200:
                with rec.lock:
                    rec.sent.append(ticket_id)


def run_agents(base: str, tokens: list[str], seconds: float) -> Recorder:
    rec, desk = Recorder(), Desk()
    threads = [threading.Thread(target=agent, args=(base, t, seconds, desk, rec)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rec


def post_tickets(base: str, token: str, count: int, offset: int) -> list[int]:
    mails = demo_mails()
    ids = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for n in range(count):
            mail = dict(mails[n % len(mails)])
            mail["subject"] = f"{mail['subject']} ({offset + n})"
            ids.append(http.post("/api/tickets", json=mail).raise_for_status().json()["id"])
    return ids


def drafted(base: str, token: str) -> int:
    rows = httpx.get(f"{base}/api/tickets?limit=500", headers={"Authorization": f"Bearer {token}"}).json()
    return sum(1 for r in rows if r["status"] != "new")


def wait_all_drafted(base: str, token: str, total: int, limit_s: float = 1800) -> None:
    deadline = time.monotonic() + limit_s
    while drafted(base, token) < total and time.monotonic() < deadline:
        time.sleep(1)


def ask_storm(base: str, tokens: list[str]) -> list[list[str]]:
    codes: Counter[int] = Counter()
    retry_after: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(45)

    def ask() -> None:
        start.wait()
        answer = httpx.post(f"{base}/api/ask", headers={"Authorization": f"Bearer {tokens[0]}"},
                            json={"text": "Wie lange dauert der Versand nach Österreich?"}, timeout=300)
        with lock:
            codes[answer.status_code] += 1
            if "Retry-After" in answer.headers:
                retry_after.add(answer.headers["Retry-After"])

    threads = [threading.Thread(target=ask) for _ in range(45)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    started = time.perf_counter()
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {tokens[1]}"}, timeout=60)
    me_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    login = httpx.post(f"{base}/api/session", json={"name": "agent2", "password": PASSWORD}, timeout=60)
    login_ms = (time.perf_counter() - started) * 1000
    for thread in threads:
        thread.join()
    return [
        ["45 × /api/ask from one person", f"200: {codes[200]}, 429: {codes[429]}, 503: {codes[503]}, "
                                          f"other: {sum(codes.values()) - codes[200] - codes[429] - codes[503]}",
         f"Retry-After {', '.join(sorted(retry_after)) or '–'} s"],
        ["GET /api/me of another person meanwhile", f"{me.status_code}", f"{me_ms:.0f} ms"],
        ["POST /api/session (login) of another person meanwhile", f"{login.status_code}", f"{login_ms:.0f} ms"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kontor-bench-load-"))
    kontor(home, "ingest")
    services = Services(Settings(home=home, run_worker=False))
    tokens = []
    for n in range(AGENTS + 1):
        services.users.add(f"agent{n}", "agent", PASSWORD)
        tokens.append(services.users.create_token(f"agent{n}"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1", "KONTOR_WORKERS": "1"}
    server = subprocess.Popen([*KONTOR, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(base)
        seeded = post_tickets(base, tokens[0], 30, 0)
        wait_all_drafted(base, tokens[0], len(seeded))
        reference = run_agents(base, tokens[:1], 20)
        before = drafted(base, tokens[0])
        new = post_tickets(base, tokens[0], 60, 1000)
        started = time.monotonic()
        loaded = run_agents(base, tokens[1:AGENTS + 1], args.seconds)
        minutes = (time.monotonic() - started) / 60
        drafts_per_minute = (drafted(base, tokens[0]) - before) / minutes
        storm = ask_storm(base, tokens[1:])
        rows = httpx.get(f"{base}/api/tickets?limit=500", headers={"Authorization": f"Bearer {tokens[0]}"}).json()
    finally:
        server.terminate()
        server.wait(timeout=60)

    stored = {r["id"] for r in rows}
    sent = [*reference.sent, *loaded.sent]
    with services.database.session() as session:
        from sqlalchemy import func, select

        from assistant.store.tables import OutboxMessage

        outbox = dict(session.execute(select(OutboxMessage.ticket_id, func.count()).group_by(OutboxMessage.ticket_id)
                                      ).all())
    lost = [t for t in [*seeded, *new] if t not in stored]
    not_once = [t for t in sent if outbox.get(t) != 1]
    calls = []
    for name in sorted(loaded.latency):
        ref, now = reference.latency.get(name, []), loaded.latency[name]
        ratio = f"{percentile(now, 99) / percentile(ref, 99):.2f}" if len(ref) > 1 else "–"
        calls.append([name, str(len(now)), f"{percentile(now, 50):.0f}", f"{percentile(now, 95):.0f}",
                      f"{percentile(now, 99):.0f}", f"{percentile(ref, 99):.0f}" if len(ref) > 1 else "–", ratio])
    every = [x for values in loaded.latency.values() for x in values]
    summary = table([f"20 agents for {args.seconds:.0f} s while drafting", "value"], [
        ["API calls (non-model)", str(len(every))],
        ["p50 / p95 / p99 over all calls", f"{percentile(every, 50):.0f} / {percentile(every, 95):.0f} / "
                                           f"{percentile(every, 99):.0f} ms (target p99 < 200 ms)"],
        ["tickets answered and sent", str(len(loaded.sent))],
        ["drafts per minute meanwhile (embedded model, 1 worker)", f"{drafts_per_minute:.1f}"],
        ["errors (unexpected status codes)", str(sum(loaded.errors.values())) +
         (f" ({dict(loaded.errors)})" if loaded.errors else "")],
        ["lost tickets / sends not delivered exactly once", f"{len(lost)} / {len(not_once)}"],
    ])
    body = "\n\n".join([
        summary,
        table(["call", "n", "p50 ms", "p95 ms", "p99 ms", "p99 ref (1 agent, no drafting)", "p99 ratio"], calls),
        table(["while one person asks 45 questions at once", "answers", "time"], storm),
    ])
    print(body)
    append_results("Team load: 20 agents while drafting, a question storm",
                   f"python bench/load.py --seconds {args.seconds:.0f}", body)


if __name__ == "__main__":
    main()
