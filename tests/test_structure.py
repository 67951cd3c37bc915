"""The layout's rules, checked on the source (docs/architecture.md): the import graph of ``assistant`` has no
cycle, no module below the faces (web, cli) and the wiring imports the container, and every import inside a
function says why it is there."""

from __future__ import annotations

import ast
from pathlib import Path

from assistant.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "assistant"
FACES = ("assistant.web", "assistant.cli")
WIRING = "assistant.services"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> set[str]:
    """Every ``assistant`` module this file imports, anywhere in it (also inside functions and TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("assistant"):
            found |= {_resolve(f"{node.module}.{alias.name}") or _resolve(node.module) or "" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {_resolve(alias.name) or "" for alias in node.names if alias.name.startswith("assistant")}
    return found - {""}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(GRAPH):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert _cycle() is None


def test_only_the_faces_and_the_wiring_know_the_container() -> None:
    knowing = {name for name, targets in GRAPH.items() if WIRING in targets}
    assert knowing and all(name.startswith(FACES) or name == WIRING for name in knowing), sorted(knowing)
    assert not [name for name in GRAPH if name.startswith("assistant.tickets") and WIRING in GRAPH[name]]


def _unexplained(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    missing = []
    for function in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom) and not _explained(lines, node.lineno - 1):
                missing.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return missing


def _explained(lines: list[str], index: int) -> bool:
    """A comment on the import's line, or above it within the same block of imports (blank lines included)."""
    for line in reversed(lines[: index + 1]):
        text = line.strip()
        if "#" in text:
            return True
        if text and not text.startswith(("import ", "from ")):
            return False
    return False


def test_every_import_inside_a_function_says_why() -> None:
    missing = sorted({entry for path in MODULES.values() for entry in _unexplained(path)})
    assert not missing, "\n".join(missing)
