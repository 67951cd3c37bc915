from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.services import Services  # noqa: E402
from tests.fakes import FakeEmbedder, FakeLLM  # noqa: E402

SHARED = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("KONTOR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KONTOR_HOME", str(tmp_path / "home"))


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "versand.md").write_text(
        "# Versand\n\n## Kosten\n\nDer Versand nach Österreich kostet 5,90 € und dauert 3–5 Werktage.\n\n"
        "## Lieferzeit\n\nBestellungen bis 14 Uhr verlassen das Lager am selben Tag.\n",
        encoding="utf-8",
    )
    (folder / "zahlung.md").write_text(
        "# Zahlung\n\nSie können per PayPal, Kreditkarte oder auf Rechnung bezahlen. Der Rechnungskauf ist bis "
        "1.500 € möglich.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def fake_services(tmp_path: Path, knowledge: Path) -> Services:
    settings = Settings(home=tmp_path / "home", knowledge_dir=knowledge)
    return Services(settings, llm=FakeLLM(), embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from assistant.embeddings import make_embedder

    return make_embedder(Settings())


@pytest.fixture(scope="session")
def real_llm():  # type: ignore[no-untyped-def]
    from assistant.llm import make_llm

    return make_llm(Settings())


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """The demo company indexed once with the real embedder and real chromadb."""
    home = tmp_path_factory.mktemp("demo-home")
    services = Services(Settings(home=home), embedder=real_embedder)
    report = services.ingestor.run([services.settings.knowledge_dir])
    assert report.ok, report.failed
    return home


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
