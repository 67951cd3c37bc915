"""Incremental ingestion on the real chromadb (fake embedder for speed): the index folder in KONTOR_HOME, and the
same tests against a chroma server (`chroma run`, KONTOR_VECTORS_URL)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.services import Services
from tests.fakes import FakeEmbedder, FakeLLM


@pytest.fixture(params=["folder", "server"])
def fake_services(request: pytest.FixtureRequest, tmp_path: Path, knowledge: Path) -> Services:
    server = {"vectors_url": request.getfixturevalue("chroma_url"),
              "vectors_collection": f"t{uuid.uuid4().hex[:12]}"} if request.param == "server" else {}
    settings = Settings(home=tmp_path / "home", knowledge_dir=knowledge, **server)
    return Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())


def _sources(services: Services) -> set[str]:
    return set(services.catalogue.documents())


def test_incremental_add_change_skip_delete(fake_services: Services, knowledge: Path) -> None:
    ingestor = fake_services.ingestor
    first = ingestor.run([knowledge])
    assert sorted(first.added) == ["versand.md", "zahlung.md"] and first.ok
    assert fake_services.vectors.count() == len(fake_services.catalogue.all_chunks())

    again = ingestor.run([knowledge])
    assert sorted(again.unchanged) == ["versand.md", "zahlung.md"] and again.chunks_written == 0

    (knowledge / "zahlung.md").write_text("# Zahlung\n\nNur noch Vorkasse und PayPal.\n", encoding="utf-8")
    (knowledge / "versand.md").unlink()
    changed = ingestor.run([knowledge])
    assert changed.updated == ["zahlung.md"] and changed.removed == ["versand.md"]
    assert _sources(fake_services) == {"zahlung.md"}
    texts = " ".join(c.text for c in fake_services.catalogue.all_chunks())
    assert "Vorkasse" in texts and "Rechnungskauf" not in texts
    # every index agrees: no vector left for removed or replaced chunks
    assert fake_services.vectors.all_ids() == {c.chunk_id for c in fake_services.catalogue.all_chunks()}
    assert [h.source for h in fake_services.retriever.search("Österreich Versand", 5)] in ([], ["zahlung.md"])


def test_reread_parses_unchanged_files_again_after_the_reader_changed(
    fake_services: Services, knowledge: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An update that reads documents differently (the PDF layout reader of issue 11) left the old chunks of every
    unchanged file in place: the hash alone decided. `kontor ingest --reread` reads them again."""
    from assistant.knowledge import ingest

    ingestor = fake_services.ingestor
    ingestor.run([knowledge])
    original = ingest.load

    def new_reader(path: Path):  # type: ignore[no-untyped-def]
        doc = original(path)
        doc.sections[0].text += "\n\nNeu gelesen."
        return doc

    monkeypatch.setattr(ingest, "load", new_reader)
    assert sorted(ingestor.run([knowledge]).unchanged) == ["versand.md", "zahlung.md"]
    assert "Neu gelesen" not in " ".join(c.text for c in fake_services.catalogue.all_chunks())
    report = ingestor.run([knowledge], reread=True)
    assert sorted(report.updated) == ["versand.md", "zahlung.md"] and not report.added and not report.unchanged
    assert " ".join(c.text for c in fake_services.catalogue.all_chunks()).count("Neu gelesen") == 2
    assert fake_services.vectors.all_ids() == {c.chunk_id for c in fake_services.catalogue.all_chunks()}


def test_broken_file_is_reported_and_old_version_kept(fake_services: Services, knowledge: Path) -> None:
    fake_services.ingestor.run([knowledge])
    before = {c.chunk_id for c in fake_services.catalogue.all_chunks()}
    (knowledge / "zahlung.md").write_bytes(b"\x00\x00binary garbage")
    (knowledge / "handbuch.pdf").write_bytes(b"%PDF-1.7 truncated")
    (knowledge / "notiz.xyz").write_text("?", encoding="utf-8")
    report = fake_services.ingestor.run([knowledge])
    assert set(report.failed) == {"zahlung.md", "handbuch.pdf", "notiz.xyz"}
    assert "binär" in report.failed["zahlung.md"]
    assert {c.chunk_id for c in fake_services.catalogue.all_chunks()} == before
    assert fake_services.retriever.search("PayPal bezahlen", 1)[0].source == "zahlung.md"


def test_interrupted_run_leaves_no_visible_half_state(fake_services: Services, knowledge: Path) -> None:
    """Vectors written before a crash (no catalogue commit) are never returned and are swept later."""
    import numpy as np

    fake_services.ingestor.run([knowledge])
    fake_services.vectors.upsert(["orphan"], np.ones((1, 64), dtype=np.float32) / 8.0, [{"source": "x"}])
    hits = fake_services.retriever.search("Versand Österreich", 5)
    assert "orphan" not in {h.chunk_id for h in hits}
    fake_services.ingestor.run([knowledge])
    assert "orphan" not in fake_services.vectors.all_ids()


def test_second_company_via_settings(tmp_path: Path) -> None:
    other = tmp_path / "firma2"
    other.mkdir()
    (other / "faq.txt").write_text("Unsere Bäckerei öffnet um 6 Uhr.", encoding="utf-8")
    services = Services(Settings(home=tmp_path / "home2", knowledge_dir=other), embedder=FakeEmbedder())
    services.ingestor.run([other])
    assert set(services.catalogue.documents()) == {"faq.txt"}
    assert services.settings.categories_file == other / "categories.yaml"
    assert (tmp_path / "home2" / "index" / "catalogue.sqlite").is_file()


def test_lost_vectors_are_recomputed_from_the_catalogue(fake_services: Services, knowledge: Path) -> None:
    """A vector store that lost entries (crash, restore of an older copy) is healed by the next run without
    reading unchanged files again."""
    fake_services.ingestor.run([knowledge])
    lost = sorted(fake_services.catalogue.chunk_ids("zahlung.md"))
    fake_services.vectors.delete(lost)
    report = fake_services.ingestor.run([knowledge])
    assert report.reembedded == ["zahlung.md"] and report.chunks_written == len(lost)
    assert sorted(report.unchanged) == ["versand.md", "zahlung.md"]
    assert fake_services.vectors.all_ids() == {c.chunk_id for c in fake_services.catalogue.all_chunks()}
    assert fake_services.retriever.search("PayPal Rechnung", 1)[0].source == "zahlung.md"


def test_the_server_keeps_the_vectors_and_a_second_host_searches_them(tmp_path: Path, knowledge: Path,
                                                                      chroma_url: str) -> None:
    """Two Kontor hosts on one chroma server (the catalogue copied, as a shared index folder would hold it): what
    one ingested, the other finds; rebuilding drops and recomputes this company's collection only."""
    company = {"vectors_url": chroma_url, "vectors_collection": f"t{uuid.uuid4().hex[:12]}"}
    first = Services(Settings(home=tmp_path / "a", knowledge_dir=knowledge, **company), embedder=FakeEmbedder())
    first.ingestor.run([knowledge])
    other = Services(Settings(home=tmp_path / "other", knowledge_dir=knowledge, vectors_url=chroma_url,
                              vectors_collection=f"t{uuid.uuid4().hex[:12]}"), embedder=FakeEmbedder())
    other.ingestor.run([knowledge])
    assert not (tmp_path / "a" / "index" / "chroma" / "chroma.sqlite3").exists()  # nothing local
    import shutil

    shutil.copytree(tmp_path / "a" / "index", tmp_path / "b" / "index")
    second = Services(Settings(home=tmp_path / "b", knowledge_dir=knowledge, **company), embedder=FakeEmbedder())
    assert second.vectors.all_ids() == {c.chunk_id for c in first.catalogue.all_chunks()}
    assert second.retriever.search("PayPal bezahlen", 1)[0].source == "zahlung.md"
    first.ingestor.rebuild([knowledge])
    assert second.vectors.count() == first.vectors.count() == len(first.catalogue.all_chunks())
    assert other.vectors.count() == len(other.catalogue.all_chunks())  # the other company's collection untouched


def test_an_unreachable_vector_server_is_a_clear_error(tmp_path: Path, knowledge: Path) -> None:
    from assistant.knowledge.vectors import VectorIndexError
    from tests.servers import free_port

    services = Services(Settings(home=tmp_path / "home", knowledge_dir=knowledge,
                                 vectors_url=f"http://127.0.0.1:{free_port()}"), embedder=FakeEmbedder())
    with pytest.raises(VectorIndexError, match="Vektorserver .* nicht erreichbar"):
        services.ingestor.run([knowledge])
