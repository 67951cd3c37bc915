"""Incremental ingestion on the real chromadb (fake embedder for speed)."""

from __future__ import annotations

from pathlib import Path

from assistant.services import Services


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
    from assistant.config import Settings
    from tests.fakes import FakeEmbedder

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
