"""The server's log file: lines land in <home>/logs, one file per day; an erasure that rewrites the file does not
make later lines vanish into the replaced file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.logs import DailyLog, setup_logging
from assistant.privacy import _scrub_logs


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    folder = tmp_path / "logs"
    setup_logging(folder)
    yield folder
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def _text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("kontor-*.log")))


def test_lines_land_in_the_day_file_and_survive_an_erasure(log_dir: Path) -> None:
    log = logging.getLogger("kontor.test")
    log.info("ticket 7 drafted for erika@example.org")
    log.info("ticket 8 drafted")
    [day_file] = list(log_dir.glob("kontor-*.log"))
    assert "erika@example.org" in day_file.read_text(encoding="utf-8")
    assert _scrub_logs(log_dir, ["erika@example.org"]) == 1  # rewritten in place: a new file under the old name
    log.info("ticket 9 drafted")
    text = _text(log_dir)
    assert "erika" not in text and "ticket 8 drafted" in text and "ticket 9 drafted" in text


def test_a_new_day_starts_a_new_file(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = logging.getLogger("kontor.test")
    log.info("heute")
    monkeypatch.setattr("assistant.logs._today", lambda: "2099-01-02")
    log.info("morgen")
    assert (log_dir / "kontor-2099-01-02.log").read_text(encoding="utf-8").count("morgen") == 1
    assert "morgen" not in "".join(p.read_text() for p in log_dir.glob("kontor-*.log") if "2099" not in p.name)


def test_setting_up_twice_keeps_one_file_handler(log_dir: Path) -> None:
    setup_logging(log_dir)
    assert sum(isinstance(h, DailyLog) for h in logging.getLogger().handlers) == 1
