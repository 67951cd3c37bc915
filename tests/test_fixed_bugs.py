"""Bugs found in review, each pinned by a test: a search keeps the index it started with while another thread
refreshes it, and a refresh asked for twice at once builds once; finished live drafts leave memory; a role Kontor
does not know has no rights; ``kontor demo`` finds its tickets also when Kontor is installed elsewhere."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from typer.testing import CliRunner

from assistant.auth import Principal, Role
from assistant.cli import app, demo_data
from assistant.cli.common import CliError
from assistant.config import PROJECT_ROOT
from assistant.domain import Chunk
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.vectors import VectorIndex
from assistant.live import LiveDrafts
from assistant.services import Services

QUERY = "Was kostet der Versand nach Österreich?"


def _add_document(services: Services, knowledge: Path) -> None:
    """A new document whose name sorts first: every earlier chunk moves to a later position."""
    (knowledge / "abholung.md").write_text(
        "# Abholung\n\n## Lager\n\nSie können Ihre Bestellung in unserem Lager in Kassel selbst abholen.\n\n"
        "## Zeiten\n\nDas Lager ist montags bis freitags von 9 bis 17 Uhr geöffnet.\n",
        encoding="utf-8",
    )
    report = services.ingestor.run([knowledge])
    assert report.ok, report.failed


class _VectorsThen:
    """The vector index, which runs ``then`` once after its first answer: the moment a search has scored its
    lexical channels and is scoring the dense one."""

    def __init__(self, inner: VectorIndex, then: Callable[[], None]) -> None:
        self.inner = inner
        self.then: Callable[[], None] | None = then

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        found = self.inner.query(vector, n)
        if self.then is not None:
            then, self.then = self.then, None
            then()
        return found


def test_a_search_keeps_its_index_while_another_refresh_swaps_it_in_between(
    fake_services: Services, knowledge: Path
) -> None:
    s = fake_services
    s.ingestor.run([knowledge])
    before = {c.chunk_id for c in s.catalogue.all_chunks()}

    def new_document_and_refresh() -> None:
        _add_document(s, knowledge)
        retriever.refresh()  # as another request's search would

    vectors = _VectorsThen(s.vectors, new_document_and_refresh)
    retriever = Retriever.from_settings(s.catalogue, cast(VectorIndex, vectors), s.embedder, s.settings)
    hits = retriever.search(QUERY, k=10)
    assert len(s.catalogue.all_chunks()) > len(before)  # the index really changed during the search
    assert hits and {h.chunk_id for h in hits} <= before  # every hit from the index the search started with
    assert hits[0].source == "versand.md" and "5,90 €" in hits[0].text  # and each hit is the chunk it scored
    assert any(h.source == "abholung.md" for h in retriever.search("Kann ich die Bestellung im Lager abholen?"))


def test_scores_are_ranked_against_the_index_they_were_computed_on(fake_services: Services, knowledge: Path) -> None:
    s = fake_services
    s.ingestor.run([knowledge])
    retriever = s.retriever
    scores = retriever.channel_scores(QUERY, s.embedder.embed_query([QUERY])[0])
    _add_document(s, knowledge)
    retriever.refresh()  # a reader holding the old scores keeps working on the old snapshot
    [best] = retriever.rank(scores, k=1)
    assert best.source == "versand.md" and "5,90 €" in best.text


class _SlowCatalogue:
    """The catalogue; reading all chunks (a rebuild) waits for ``release`` and is counted."""

    def __init__(self, inner: Catalogue) -> None:
        self.inner = inner
        self.builds = 0
        self.building = threading.Event()
        self.release = threading.Event()
        self.second_asked = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def version(self) -> int:
        if threading.current_thread().name == "second":
            self.second_asked.set()
        return self.inner.version()

    def all_chunks(self, include_internal: bool = True) -> list[Chunk]:
        self.builds += 1
        self.building.set()
        self.release.wait(10)
        return self.inner.all_chunks(include_internal)


def test_two_refreshes_at_once_build_the_index_once(fake_services: Services, knowledge: Path) -> None:
    s = fake_services
    s.ingestor.run([knowledge])
    catalogue = _SlowCatalogue(s.catalogue)
    retriever = Retriever.from_settings(cast(Catalogue, catalogue), s.vectors, s.embedder, s.settings)
    first = threading.Thread(target=retriever.refresh)
    second = threading.Thread(target=retriever.refresh, name="second")
    first.start()
    assert catalogue.building.wait(10)  # the first rebuild is under way, holding the lock
    second.start()
    assert catalogue.second_asked.wait(10)  # the second saw the old version and goes for the lock
    time.sleep(0.05)
    catalogue.release.set()
    first.join(10)
    second.join(10)
    assert catalogue.builds == 1
    assert retriever.search(QUERY, k=1)[0].source == "versand.md"


def test_a_finished_live_draft_stays_for_late_readers_then_leaves_memory() -> None:
    now = [1000.0]
    live = LiveDrafts(keep_seconds=120, clock=lambda: now[0])
    live.start(1)
    live.append(1, "Der Versand ")
    live.finish(1)
    live.start(2)  # still being written
    live.append(2, "Guten Tag")
    now[0] += 119
    assert live.read(1, 0) == (["Der Versand "], True)  # a page that connects just after the end gets "done"
    now[0] += 2
    assert live.read(1, 0) == ([], False)  # gone: the page finds the stored draft in the database
    assert len(live) == 1
    now[0] += 10_000
    assert live.read(2, 0) == (["Guten Tag"], False)  # a draft being written is never dropped
    live.finish(2)
    now[0] += 121
    live.start(3)
    assert len(live) == 1


def test_a_role_kontor_does_not_know_has_no_rights() -> None:
    stranger = Principal(1, "chef", cast(Role, "chef"))  # e.g. a role edited by hand in the database
    assert not stranger.has_role("agent") and not stranger.has_role("admin")
    agent, expert = Principal(2, "anna", "agent"), Principal(3, "eva", "expert")
    assert agent.has_role("agent") and not agent.has_role("expert")
    assert expert.has_role("agent") and expert.has_role("expert") and not expert.has_role("admin")
    assert Principal(4, "root", "admin").has_role("expert")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Kontor installed into site-packages: no demo/ folder next to the package."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(demo_data, "PROJECT_ROOT", site)
    return site


def test_demo_tickets_are_found_beside_the_knowledge_when_kontor_is_installed(installed: Path, tmp_path: Path) -> None:
    company = tmp_path / "firma"
    (company / "knowledge").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "knowledge" / "categories.yaml", company / "knowledge" / "categories.yaml")
    tickets = company / "demo" / "tickets"
    tickets.mkdir(parents=True)
    for name in ("01.eml", "02.eml"):
        shutil.copy(PROJECT_ROOT / "demo" / "tickets" / name, tickets / name)
    result = CliRunner().invoke(app, ["demo"], env={"KONTOR_KNOWLEDGE_DIR": str(company / "knowledge"),
                                                    "KONTOR_DEMO_PASSWORD_KUNDENDIENST": "kd-passwort-123"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Demo-Tickets: 2 neu" in result.stdout


def test_missing_demo_tickets_are_one_german_error_before_anything_changes(installed: Path, tmp_path: Path) -> None:
    knowledge = tmp_path / "eigene" / "knowledge"
    with pytest.raises(CliError, match="Demo-Tickets nicht gefunden .*KONTOR_KNOWLEDGE_DIR"):
        demo_data.demo_tickets_dir(knowledge)
    result = CliRunner().invoke(app, ["demo"], env={"KONTOR_KNOWLEDGE_DIR": str(knowledge)})
    assert result.exit_code == 1 and isinstance(result.exception, CliError)
    assert "Demo-Benutzer" not in result.stdout  # no demo users without the tickets


def test_demo_tickets_of_the_source_checkout() -> None:
    assert demo_data.demo_tickets_dir(PROJECT_ROOT / "knowledge") == PROJECT_ROOT / "demo" / "tickets"
