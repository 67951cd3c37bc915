"""A team's load: 20 agents work the review desk while the embedded model drafts new tickets.

Starts the real `kontor serve` (SQLite, the embedded model, one worker thread, maildir outbox) on the demo company.
Before it starts, SEED tickets are stored with a draft each, as drafting stores one (a letter of two knowledge
passages with their citations and sections; written without the model, so seeding takes seconds, not hours).
Every agent loops: inbox, open a drafted ticket, edit, approve, send — pausing THINK seconds between calls (a
person reads and types; far less than a real person, so this is a stress test). Measured:
1. Reference: one agent for REFERENCE_S while nothing is drafted.
2. Load: 20 agents for --seconds while NEW new tickets arrive and the model drafts them. p50/p95/p99 per call
   type (target p99 < 200 ms for non-model calls on 2 cores), drafts per minute, errors, and whether anything was
   lost (every posted ticket stored, every accepted send delivered exactly once).
3. 45 parallel `/api/ask` from one person: how many run, how many are refused (429/503 with Retry-After), and
   the latency of `/api/me` and of a login of somebody else meanwhile.

Usage: .venv/bin/python bench/load.py [--seconds 60] [--write]   (--write: replace the "Team load" section of
bench/RESULTS.md with the figures)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.domain import Citation, Draft, DraftSection  # noqa: E402
from assistant.services import Services  # noqa: E402
from assistant.tickets.intake import TicketIn  # noqa: E402
from bench.common import RESULTS, table  # noqa: E402
from bench.ticket_flow import KONTOR, demo_mails, free_port, kontor, percentile, wait_until_up  # noqa: E402

AGENTS = 20
SEED = 600  # drafted tickets waiting on the desk: more than 20 agents finish in the run
NEW = 60  # new tickets posted when the load starts, drafted by the model meanwhile
REFERENCE_S = 15
THINK = (0.2, 0.8)  # seconds an agent pauses after each call
PASSWORD = "bench-passwort-123"
CALLS = ["GET /api/tickets (inbox)", "GET /api/tickets/{id} (open)", "PUT /api/drafts/{id} (edit)",
         "POST /api/drafts/{id}/approve", "POST /api/drafts/{id}/send"]


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def call(self, http: httpx.Client, name: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            with self.lock:
                self.errors[f"{name} {type(exc).__name__}"] += 1
            return None
        took = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latency[name].append(took)
            if response.status_code not in (200, 201):
                self.errors[f"{name} {response.status_code}"] += 1
        time.sleep(random.uniform(*THINK))
        return response if response.status_code in (200, 201) else None


class Desk:
    """Hands each drafted ticket to one agent (as a team splits the inbox)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()
        self.lock = threading.Lock()

    def take(self, rows: list[dict[str, object]]) -> int | None:
        with self.lock:
            for row in rows:
                ticket_id = int(row["id"])  # type: ignore[call-overload]
                if row["status"] == "drafted" and ticket_id not in self.taken:
                    self.taken.add(ticket_id)
                    return ticket_id
        return None


def agent(base: str, token: str, seconds: float, desk: Desk, rec: Recorder) -> None:
    deadline = time.monotonic() + seconds
    time.sleep(random.uniform(*THINK))  # people do not start in the same millisecond
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while time.monotonic() < deadline:
            inbox = rec.call(http, CALLS[0], "GET", "/api/tickets?status=drafted&limit=50")
            ticket_id = desk.take(inbox.json()) if inbox is not None else None
            if ticket_id is None:
                continue
            view = rec.call(http, CALLS[1], "GET", f"/api/tickets/{ticket_id}")
            draft = view.json()["draft"] if view is not None else None
            if draft is None:
                continue
            text = draft["text"].replace("Mit freundlichen Grüßen", "Viele Grüße")
            edited = rec.call(http, CALLS[2], "PUT", f"/api/drafts/{draft['id']}", json={"text": text})
            if edited is None or rec.call(http, CALLS[3], "POST", f"/api/drafts/{draft['id']}/approve") is None:
                continue
            kinds = sorted({flag["kind"] for flag in edited.json().get("flags", [])})
            sent = rec.call(http, CALLS[4], "POST", f"/api/drafts/{draft['id']}/send", json={"confirm": kinds})
            if sent is not None:
                with rec.lock:
                    rec.sent.append(ticket_id)


def run_agents(base: str, tokens: list[str], seconds: float, desk: Desk) -> Recorder:
    rec = Recorder()
    threads = [threading.Thread(target=agent, args=(base, t, seconds, desk, rec)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rec


def seed_drafted(services: Services, count: int) -> list[int]:
    """``count`` tickets from the demo mails, each with a stored draft as drafting stores it (no model)."""
    from sqlalchemy import update

    from assistant.store.tables import Job

    chunks = services.catalogue.all_chunks(include_internal=False)
    mails = demo_mails()
    ids = []
    for n in range(count):
        mail = mails[n % len(mails)]
        ticket, _ = services.intake.create(TicketIn(customer=mail["customer"], subject=f"{mail['subject']} ({n})",
                                                    body=mail["body"]), "bench")
        passages = [chunks[(2 * n + k) % len(chunks)] for k in range(2)]
        quotes = [re.split(r"(?<=[.!?])\s", c.text.strip())[0][:300] for c in passages]
        sections = [DraftSection(question=mail["subject"], text=quote, citations=[k + 1])
                    for k, quote in enumerate(quotes)]
        letter = "Guten Tag,\n\nvielen Dank für Ihre Nachricht.\n\n" + "\n\n".join(quotes) + \
                 "\n\nMit freundlichen Grüßen\nIhr Kundenservice"
        draft = Draft(answer=letter, sections=sections, prompt_version="answer@v1", model="bench-seed",
                      citations=[Citation(n=k + 1, source=c.source, chunk_id=c.chunk_id, quote=q)
                                 for k, (c, q) in enumerate(zip(passages, quotes, strict=True))])
        services.drafting.save_draft(ticket.id, draft, None)
        ids.append(ticket.id)
    with services.database.session() as session:  # drafted: their jobs are done
        session.execute(update(Job).where(Job.ticket_id.in_(ids)).values(status="done"))
    return ids


def post_tickets(base: str, token: str, count: int, offset: int) -> list[int]:
    mails = demo_mails()
    ids = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for n in range(count):
            mail = dict(mails[n % len(mails)])
            mail["subject"] = f"{mail['subject']} ({offset + n})"
            ids.append(http.post("/api/tickets", json=mail).raise_for_status().json()["id"])
    return ids


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


def count_drafted(services: Services, ids: list[int]) -> int:
    from sqlalchemy import func, select

    from assistant.store.tables import Ticket

    with services.database.session() as session:
        return int(session.scalar(select(func.count()).where(Ticket.id.in_(ids), Ticket.status != "new")) or 0)


def write_section(title: str, command: str, body: str) -> None:
    """Replace this engine's "Team load" section of RESULTS.md (or one written before sections named their engine),
    or add it after the other Team load section."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title} ({stamp}, {platform.machine()}, {platform.python_version()})\n\nCommand: `{command}`\n\n" \
              f"{body}\n\n"
    text = RESULTS.read_text(encoding="utf-8")
    sections = list(re.finditer(r"^## Team load.*?(?=^## |\Z)", text, flags=re.M | re.S))
    mine = [m for m in sections if m.group().startswith(f"## {title} (")] or \
           [m for m in sections if not re.match(r"## Team load[^\n]*\((SQLite|PostgreSQL)\)", m.group())]
    if mine:
        text = text[:mine[0].start()] + section + text[mine[0].end():]
    elif sections:
        text = text[:sections[-1].end()] + section + text[sections[-1].end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--database-url", default="", help="e.g. PostgreSQL (the server layout); default: SQLite")
    parser.add_argument("--write", action="store_true", help="replace the Team load section of bench/RESULTS.md")
    args = parser.parse_args()
    begun = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="kontor-bench-load-"))
    kontor(home, "ingest")
    services = Services(Settings(home=home, run_worker=False, database_url=args.database_url))
    tokens = []
    for n in range(AGENTS + 1):
        services.users.add(f"agent{n}", "agent", PASSWORD)
        tokens.append(services.users.create_token(f"agent{n}"))
    seeded = seed_drafted(services, SEED)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1", "KONTOR_WORKERS": "1",
           "KONTOR_DATABASE_URL": args.database_url}
    server = subprocess.Popen([*KONTOR, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    desk = Desk()
    try:
        wait_until_up(base)
        reference = run_agents(base, tokens[:1], REFERENCE_S, desk)
        new = post_tickets(base, tokens[0], NEW, 1000)
        started, load_before = time.monotonic(), os.getloadavg()[0]
        loaded = run_agents(base, tokens[1:AGENTS + 1], args.seconds, desk)
        minutes, load_after = (time.monotonic() - started) / 60, os.getloadavg()[0]
        drafts_per_minute = count_drafted(services, new) / minutes
        storm = ask_storm(base, tokens[1:])
    finally:
        server.terminate()
        server.wait(timeout=60)

    from sqlalchemy import func, select

    from assistant.store.tables import OutboxMessage, Ticket

    with services.database.session() as session:
        stored = set(session.scalars(select(Ticket.id)))
        delivered = dict(session.execute(select(OutboxMessage.ticket_id, func.count()).where(
            OutboxMessage.status == "delivered").group_by(OutboxMessage.ticket_id)).all())
    sent = [*reference.sent, *loaded.sent]
    lost = [t for t in [*seeded, *new] if t not in stored]
    not_once = [t for t in sent if delivered.get(t) != 1]
    calls = []
    for name in CALLS:
        ref, now = reference.latency.get(name, []), loaded.latency.get(name, [])
        if not now:
            continue
        calls.append([name, str(len(now)), f"{percentile(now, 50):.0f}", f"{percentile(now, 95):.0f}",
                      f"{percentile(now, 99):.0f}", f"{percentile(ref, 99):.0f}" if len(ref) > 1 else "–"])
    every = [x for values in loaded.latency.values() for x in values]
    errors = sum(loaded.errors.values())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    engine = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    summary = table([f"20 agents for {args.seconds:.0f} s while drafting ({engine})", "value"], [
        ["cores (`nproc`); load average before / after the load phase", f"{cores}; {load_before:.1f} / "
                                                                         f"{load_after:.1f}"],
        ["agents' pause after each call", f"{THINK[0]}–{THINK[1]} s"],
        ["API calls (non-model)", f"{len(every)} ({len(every) / (minutes * 60):.0f}/s)"],
        ["p50 / p95 / p99 over all calls", f"{percentile(every, 50):.0f} / {percentile(every, 95):.0f} / "
                                           f"{percentile(every, 99):.0f} ms (target p99 < 200 ms)"],
        ["tickets answered and sent", str(len(loaded.sent))],
        ["drafts per minute meanwhile (embedded model, 1 worker thread)", f"{drafts_per_minute:.1f}"],
        ["errors (unexpected status codes, failed requests)", str(errors) +
         (f" ({dict(loaded.errors)})" if errors else "")],
        ["lost tickets / sends not delivered exactly once", f"{len(lost)} / {len(not_once)}"],
    ])
    body = "\n\n".join([
        summary,
        table(["call", "n", "p50 ms", "p95 ms", "p99 ms", "p99 ms, 1 agent, no drafting"], calls),
        table(["while one person asks 45 questions at once", "answers", "time"], storm),
    ])
    print(body)
    print(f"\nwhole run: {time.monotonic() - begun:.0f} s")
    if args.write:
        url = " --database-url postgresql+psycopg://…" if engine == "PostgreSQL" else ""
        write_section(f"Team load: 20 agents while drafting, a question storm ({engine})",
                      f"python bench/load.py --seconds {args.seconds:.0f}{url} --write", body)


if __name__ == "__main__":
    main()
