"""The one test harness: a Kontor on a real database behind the real app, with scripted fakes for the model and the
embedder, one user and one token per role, and the few things tests look at (outbox, audit log). The fixtures
``kontor`` (SQLite and PostgreSQL), ``lite`` (SQLite) and ``expert_kontor`` in conftest.py build it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, cast

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from assistant.config import PROJECT_ROOT, Settings
from assistant.llm import LLM
from assistant.outbox import MaildirMailer
from assistant.prompts import file_sha256, parse_prompt_file
from assistant.services import Services
from assistant.store.tables import OutboxMessage
from assistant.web.app import create_app
from tests.fakes import CASES, CitingLLM, FakeEmbedder, FakeLLM

QUESTION = {"customer": "Erika Muster <erika@example.org>", "subject": "Versand nach Österreich",
            "body": "Guten Tag, was kostet der Versand nach Österreich und wie lange dauert er?"}
ROLES = [("anna", "agent"), ("eva", "expert"), ("adam", "admin")]


class Kontor:
    """A Kontor on one database with three users and a token each; jobs run when the test says so.
    ``parts`` swap more of Kontor's parts (``Services(settings, **parts)``), ``settings`` change its settings."""

    default_role = "agent"

    def __init__(self, tmp_path: Path, knowledge: Path, database_url: str = "", llm: LLM | None = None,
                 parts: dict[str, object] | None = None, **settings: Any) -> None:
        self.knowledge = knowledge
        self.settings = Settings(**{
            "home": tmp_path / "home", "knowledge_dir": knowledge, "database_url": database_url,
            "categories": PROJECT_ROOT / "knowledge" / "categories.yaml", "categorise_use_model": False,
            "run_worker": False, "mail_from": "kundenservice@kochwerk-lindner.de",
            "mail_from_name": "Kochwerk Lindner", "answer_generate": "always", **settings,
        })
        self.services = Services(self.settings, llm=llm or FakeLLM(), embedder=FakeEmbedder(), **(parts or {}))
        self.services.ingestor.run([knowledge])
        self.app = create_app(self.settings, self.services)
        self.client = TestClient(self.app)
        self.tokens = {}
        for name, role in ROLES:
            self.services.users.add(name, role, f"{name}-passwort-123")
            self.tokens[role] = self.services.users.create_token(name)

    def call(self, method: str, path: str, role: str | None = None, **kwargs: Any) -> Any:
        """A request with the token of ``role`` (default: the harness's ``default_role``; ``""``: none)."""
        role = self.default_role if role is None else role
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def drafted_ticket(self, body: dict[str, str] | None = None) -> dict[str, Any]:
        created = self.call("POST", "/api/tickets", "agent", json=body or QUESTION)
        assert created.status_code == 201, created.text
        assert self.services.jobs.run_until_idle() == 1
        return self.call("GET", f"/api/tickets/{created.json()['id']}", "agent").json()  # type: ignore[no-any-return]

    def outbox_files(self) -> list[Path]:
        return MaildirMailer(self.settings.outbox_dir).delivered()

    def outbox_rows(self) -> list[OutboxMessage]:
        with self.services.database.session() as session:
            return list(session.scalars(select(OutboxMessage)))

    def make_due(self) -> None:
        """Every waiting message due now (skips the backoff)."""
        with self.services.database.session() as session:
            session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))

    def audit(self, ticket_id: int) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/audit?ticket_id={ticket_id}", role="admin").json()[::-1]  # type: ignore[no-any-return]

    # --- the expert's side --------------------------------------------------------------------------------

    def upload(self, name: str, data: bytes, role: str = "expert") -> Any:
        return self.call("POST", "/api/documents", role, files={"file": (name, data, "application/octet-stream")})

    def wait(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.call("GET", f"/api/tasks/{task_id}").json()
            if task["status"] != "running":
                return task  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} still running")

    def documents(self) -> dict[str, dict[str, Any]]:
        return {d["source"]: d for d in self.call("GET", "/api/documents", "agent").json()}

    def files(self) -> set[str]:
        return {p.name for p in self.knowledge.iterdir()}


class ExpertKontor(Kontor):
    """For the expert's API: a scripted citing model, a tiny evaluation set (``CASES``), copied prompts with a
    worse answer candidate, small uploads; requests as the expert by default."""

    default_role = "expert"

    def __init__(self, tmp_path: Path, knowledge: Path) -> None:
        cases = tmp_path / "eval" / "cases"
        cases.mkdir(parents=True)
        for case in cast(list[dict[str, Any]], CASES):
            (cases / f"{case['id']}.yaml").write_text(yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
        super().__init__(tmp_path, knowledge, llm=cast(LLM, CitingLLM()), prompts_dir=prompts(tmp_path / "prompts"),
                         eval_dir=tmp_path / "eval", max_file_bytes=64 * 1024, mail_from="kundenservice@example.org",
                         mail_from_name="Kundenservice")


def prompts(root: Path) -> Path:
    """The released (locked, unchanging) v1 prompts of the project, plus an answer v2 without the citation
    instruction, which the scripted model follows: a worse candidate the gate must catch."""
    for task in ("answer", "categorise", "letter"):
        (root / task).mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "prompts" / task / "v1.md", root / task / "v1.md")
    v1 = parse_prompt_file(root / "answer" / "v1.md")
    head = (root / "answer" / "v1.md").read_text(encoding="utf-8").split("\n---\n", 1)[0]
    head = head.replace("version: 1", "version: 2").replace(f"note: {v1.meta.note}", "note: ohne Quellenangaben")
    (root / "answer" / "v2.md").write_text(
        f"{head}\n---\n[system]\nDu bist der Kundenservice von {{{{ company.name }}}}. Antworte kurz.\n"
        f"[user]\n{v1.user.strip()}\n", encoding="utf-8")
    assert parse_prompt_file(root / "answer" / "v2.md").meta.version == 2
    (root / "labels.yaml").write_text(yaml.safe_dump({"answer": {"production": 1, "candidate": 2},
                                                      "categorise": {"production": 1, "candidate": None},
                                                      "letter": {"production": 1, "candidate": None}}))
    (root / "prompts.lock").write_text(yaml.safe_dump(
        {task: {1: file_sha256(root / task / "v1.md")} for task in ("answer", "categorise", "letter")}))
    return root


def logged_in(kontor: Kontor, name: str) -> TestClient:
    """A browser of its own, logged in as ``name`` by session cookie."""
    client = TestClient(kontor.app)
    assert client.post("/api/session", json={"name": name, "password": f"{name}-passwort-123"}).status_code == 200
    return client


def html_page(kontor: Kontor, path: str, name: str = "anna") -> tuple[int, str]:
    """A page as the browser gets it: logged in by session cookie, asking for HTML."""
    client = kontor.client
    if not client.cookies:
        assert client.post("/api/session", json={"name": name, "password": f"{name}-passwort-123"}).status_code == 200
    response = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    return response.status_code, response.text
