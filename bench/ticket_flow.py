"""From arrival to ready draft, and API latency while drafts are being generated.

Starts the real `kontor serve` (background worker, embedded model, SQLite) on the demo company, posts the
dozen demo e-mails through the API and measures:
- time from arrival to ready draft per ticket (from the audit log: received → drafted);
- latency of `GET /api/tickets` and `GET /api/tickets/{id}` with 4 concurrent clients, idle (reference) and
  while the worker drafts (ratio against the idle reference of the same run).

Usage: .venv/bin/python bench/ticket_flow.py
"""

from __future__ import annotations

import email
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email import policy
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import PROJECT_ROOT  # noqa: E402
from bench.common import append_results, table  # noqa: E402

KONTOR = [sys.executable, "-m", "assistant"]
CLIENTS = 4
REQUESTS = 50  # per client and phase


def kontor(home: Path, *args: str) -> str:
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*KONTOR, *args], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True,
                          text=True).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_mails() -> list[dict[str, str]]:
    mails = []
    for path in sorted((PROJECT_ROOT / "demo" / "tickets").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        mails.append({"customer": str(message["From"]), "subject": str(message["Subject"]),
                      "body": str(body.get_content() if body else "")})
    return mails


def load(base: str, headers: dict[str, str], paths: list[str]) -> list[float]:
    """CLIENTS threads, REQUESTS each, round-robin over paths; latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for n in range(REQUESTS):
                started = time.perf_counter()
                http.get(paths[n % len(paths)]).raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="kontor-bench-"))
    kontor(home, "ingest")
    kontor(home, "users", "add", "bench", "--role", "admin")
    headers = {"Authorization": "Bearer " + kontor(home, "tokens", "create", "bench").strip()}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KONTOR_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([*KONTOR, "serve", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(base)
        seed = httpx.post(f"{base}/api/tickets", headers=headers, json=demo_mails()[0]).json()
        wait_drafted(base, headers, [seed["id"]])  # model loaded and warm before anything is timed
        paths = ["/api/tickets", f"/api/tickets/{seed['id']}"]
        idle = load(base, headers, paths)

        ids = [httpx.post(f"{base}/api/tickets", headers=headers, json=m).json()["id"] for m in demo_mails()]
        busy = load(base, headers, paths)  # the worker drafts meanwhile
        wait_drafted(base, headers, ids)
        ready = arrival_to_ready(base, headers, ids)
    finally:
        server.terminate()
        server.wait(timeout=60)

    rows = [
        ["GET (4 clients), idle – reference", f"{percentile(idle, 50):.1f} ms", f"{percentile(idle, 95):.1f} ms",
         "1.00"],
        ["GET (4 clients), while drafting", f"{percentile(busy, 50):.1f} ms", f"{percentile(busy, 95):.1f} ms",
         f"{percentile(busy, 50) / percentile(idle, 50):.2f}"],
    ]
    latency = table(["API latency", "p50", "p95", "p50 ratio"], rows)
    drafts = table(["arrival → ready draft (12 demo tickets, posted at once)", "value"], [
        ["fastest", f"{min(ready):.1f} s"], ["median", f"{statistics.median(ready):.1f} s"],
        ["slowest (waits for the 11 before it)", f"{max(ready):.1f} s"],
        ["drafting throughput", f"{len(ready) / max(ready) * 60:.1f} tickets/min"],
    ])
    body = f"{drafts}\n\n{latency}"
    print(body)
    append_results("Ticket flow: arrival to ready draft, API latency while drafting", "python bench/ticket_flow.py",
                   body)


def wait_until_up(base: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("kontor serve did not start")


def wait_drafted(base: str, headers: dict[str, str], ids: list[int]) -> None:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        states = {t["id"]: t["status"] for t in httpx.get(f"{base}/api/tickets?limit=500", headers=headers).json()}
        if all(states.get(i) not in (None, "new") for i in ids):
            return
        time.sleep(1)
    raise RuntimeError("drafts not ready in 30 minutes")


def arrival_to_ready(base: str, headers: dict[str, str], ids: list[int]) -> list[float]:
    seconds = []
    for ticket_id in ids:
        entries = httpx.get(f"{base}/api/audit?ticket_id={ticket_id}", headers=headers).json()
        at = {e["action"]: datetime.fromisoformat(e["at"]) for e in entries}
        done = at.get("drafted") or at.get("draft_failed")
        seconds.append((done - at["received"]).total_seconds() if done else float("nan"))
    return seconds


if __name__ == "__main__":
    main()
