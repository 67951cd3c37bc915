from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from assistant.services import Services  # noqa: E402
from tests.fakes import FakeEmbedder, FakeLLM  # noqa: E402
from tests.harness import Kontor  # noqa: E402

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


@pytest.fixture(params=["sqlite", "postgresql"])
def kontor(request: pytest.FixtureRequest, tmp_path: Path, knowledge: Path) -> Kontor:
    """The harness on SQLite and on a real PostgreSQL server."""
    url = request.getfixturevalue("pg_database_url") if request.param == "postgresql" else ""
    return Kontor(tmp_path, knowledge, url)


@pytest.fixture
def lite(tmp_path: Path, knowledge: Path) -> Kontor:
    """The harness on SQLite only (for what does not depend on the database)."""
    return Kontor(tmp_path, knowledge)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- PostgreSQL ------------------------------------------------------------------------------------------------
# Read once at import: the autouse ``_isolated_env`` fixture removes every KONTOR_* variable for each test.
_PG_ENVIRON = {key: value for key, value in os.environ.items() if key in ("KONTOR_TEST_PG_URL", "KONTOR_REQUIRE_PG")}


@pytest.fixture(scope="session")
def pg_url():  # type: ignore[no-untyped-def]
    """URL of a PostgreSQL database for the whole session: a throwaway server, or ``KONTOR_TEST_PG_URL``.

    Skips when PostgreSQL is not installed, unless ``KONTOR_REQUIRE_PG=1`` (CI), where that is a failure.
    """
    from contextlib import ExitStack

    from tests.pg_server import PostgresUnavailable, postgres_server

    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server(_PG_ENVIRON))
        except PostgresUnavailable as error:
            reason = str(error)
        else:
            reason = ""
        if reason and _PG_ENVIRON.get("KONTOR_REQUIRE_PG") == "1":
            pytest.fail(f"KONTOR_REQUIRE_PG=1 but PostgreSQL is unavailable: {reason}", pytrace=False)
        if reason:
            pytest.skip(f"PostgreSQL unavailable: {reason}")
        yield url


@pytest.fixture
def pg_database_url(pg_url: str):  # type: ignore[no-untyped-def]
    """A fresh, empty database on the session's PostgreSQL server, dropped after the test."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    name = f"kontor_t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:  # connections the test left open must not keep it alive
            if connection.dialect.server_version_info >= (13,):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
                )
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


# --- IMAP ------------------------------------------------------------------------------------------------------
_REQUIRE_IMAP = os.environ.get("KONTOR_REQUIRE_IMAP") == "1"  # read at import, like _PG_ENVIRON


@pytest.fixture(scope="session")
def imap_server():  # type: ignore[no-untyped-def]
    """A throwaway Dovecot (tests/imap_server.py) for the whole session: ``ImapServer(host, port, user, …)``.

    Skips when Dovecot is not installed, unless ``KONTOR_REQUIRE_IMAP=1`` (CI), where that is a failure.
    """
    from contextlib import ExitStack

    from tests.imap_server import ImapUnavailable, dovecot_server

    with ExitStack() as stack:
        try:
            server = stack.enter_context(dovecot_server())
        except ImapUnavailable as error:
            reason = str(error)
        else:
            reason = ""
        if reason and _REQUIRE_IMAP:
            pytest.fail(f"KONTOR_REQUIRE_IMAP=1 but Dovecot is unavailable: {reason}", pytrace=False)
        if reason:
            pytest.skip(f"Dovecot unavailable: {reason}")
        yield server


# --- chroma server -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chroma_url():  # type: ignore[no-untyped-def]
    """A `chroma run` server on loopback for the whole session (tests/chroma_server.py)."""
    from tests.chroma_server import chroma_server

    with chroma_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per browser test module."""
    from playwright import sync_api as playwright_api  # only the browser tests need it

    from tests.browser import ARGS, CHROMIUM

    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests put their screenshots: KONTOR_SCREENSHOTS=docs/screenshots refreshes the README's."""
    folder = Path(os.environ.get("KONTOR_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
