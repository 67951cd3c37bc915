from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import PROJECT_ROOT
from assistant.prompts import PromptError, PromptLibrary, parse_prompt_file

HEAD = "---\nversion: 1\ntask: answer\nauthor: t\ncreated: 2026-11-01\n---\n"


def test_every_shipped_prompt_parses_and_labels_resolve() -> None:
    library = PromptLibrary(PROJECT_ROOT / "prompts")
    for task, labels in library.labels().items():
        assert library.versions(task), task
        for label, version in labels.items():
            if version is not None:
                assert library.resolve(task, label).meta.version == version


def _write(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "answer"
    folder.mkdir(exist_ok=True)
    path = folder / "v1.md"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_undocumented_variable_is_named_when_loaded(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="kunde"):
        parse_prompt_file(_write(tmp_path, "[system]\nHallo\n[user]\n{{ question }} {{ kunde }}\n"))


def test_missing_variable_is_named_when_rendered(tmp_path: Path) -> None:
    prompt = parse_prompt_file(_write(tmp_path, "[system]\nHallo\n[user]\n{{ question }}\n"))
    with pytest.raises(PromptError, match="question"):
        prompt.render({"name": "X"})


def test_system_part_cannot_see_customer_text(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="question"):
        parse_prompt_file(_write(tmp_path, "[system]\n{{ question }}\n[user]\n{{ question }}\n"))


@pytest.mark.parametrize(
    "body", ["nur Text ohne Teile", "[system]\n{% if %}\n[user]\nx", "[user]\nx\n"]
)
def test_malformed_prompt_files_are_rejected(tmp_path: Path, body: str) -> None:
    with pytest.raises(PromptError):
        parse_prompt_file(_write(tmp_path, body))


def test_released_prompt_files_never_change() -> None:
    """Every file that was ever production matches the hash in prompts/prompts.lock."""
    from assistant.prompts import PromptReleases

    assert PromptReleases(PromptLibrary(PROJECT_ROOT / "prompts")).lock_problems() == []


def test_new_version_promote_and_lock(tmp_path: Path) -> None:
    import shutil

    from assistant.prompts import PromptReleases

    root = tmp_path / "prompts"
    shutil.copytree(PROJECT_ROOT / "prompts", root)
    releases = PromptReleases(PromptLibrary(root))
    n = max(v.meta.version for v in releases.library.versions("answer")) + 1
    created = releases.new_version("answer", 1, author="Fachbereich", note="kürzer")
    assert created.meta.version == n and created.meta.author == "Fachbereich"
    assert created.system == releases.library.get("answer", 1).system  # the text is copied as is
    assert releases.library.labels()["answer"]["candidate"] == n
    assert '+note: "kürzer"' in releases.diff("answer", 1, n)
    releases.promote("answer", n)
    labels = releases.library.labels()["answer"]
    assert labels == {"production": n, "candidate": None} and n in releases.lock()["answer"]
    assert releases.lock_problems() == []
    (root / "answer" / f"v{n}.md").write_text((root / "answer" / f"v{n}.md").read_text() + "\nnoch ein Satz\n")
    assert [f"answer@v{n}" in p for p in releases.lock_problems()] == [True]
