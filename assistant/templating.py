"""Sandboxed Jinja2 for templates the department edits (prompts, the reply letter).

A template is data an expert writes, never code the server runs. Two walls:

1. ``check_template`` reads the template's syntax tree before it is saved or loaded and refuses anything but the
   documented variables, their data fields, a short list of text filters and tests, ``if``/``for``/``set``: no
   calls, no ``_`` attributes, no method names, no globals (``cycler``, ``joiner``, ``namespace``, ``lipsum``,
   ``range``, ``self``), no imports, includes or macros, no loops over anything but the documented lists.
2. Rendering runs in ``ImmutableSandboxedEnvironment`` with no globals and only the listed filters, on plain
   data (dicts, lists, strings) — so a template that slipped past (1) still cannot reach Python internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

# Filters that only reshape text or lists and whose arguments cannot blow up memory (no center/indent/replace,
# whose numeric or string arguments multiply the output; no map/attr/format, which reach attributes by name).
ALLOWED_FILTERS = frozenset({
    "capitalize", "count", "default", "d", "first", "join", "last", "length", "lower", "round", "string", "title",
    "trim", "truncate", "upper", "wordcount", "int", "float", "sort", "unique", "reverse", "list",
})
ALLOWED_TESTS = frozenset({
    "defined", "undefined", "none", "number", "string", "eq", "ne", "lt", "le", "gt", "ge", "in", "odd", "even",
    "true", "false", "==", "!=", "<", "<=", ">", ">=",
})
# Attributes a template may read on ``loop`` inside a for-block.
_LOOP_FIELDS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})
# Method names of the plain data handed to templates: reading one gives a bound method, a step towards a call.
_METHOD_NAMES = frozenset(
    name for kind in (str, dict, list, tuple, int, float, object, jinja2.runtime.LoopContext) for name in dir(kind)
    if callable(getattr(kind, name, None))
)
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.For, nodes.If, nodes.Assign, nodes.Filter, nodes.Test, nodes.CondExpr, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Concat, nodes.Add, nodes.Sub, nodes.Neg, nodes.Pos,
    nodes.List, nodes.Tuple, nodes.Keyword,
)
_MAX_TEMPLATE_CHARS = 20_000


class TemplateRejected(ValueError):
    """The template uses something outside the documented variables, filters and blocks (German message)."""


_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
_ENV.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
_ENV.filters = {name: f for name, f in _ENV.filters.items() if name in ALLOWED_FILTERS}
_ENV.tests = {name: t for name, t in _ENV.tests.items() if name in ALLOWED_TESTS}


def check_template(source: str, variables: Mapping[str, frozenset[str] | None], lists: frozenset[str]) -> None:
    """Refuse ``source`` unless it uses only ``variables`` (name → its allowed fields; ``None`` = any data field)
    and loops only over ``lists``. Raises TemplateRejected (German, with the line) or jinja2.TemplateSyntaxError."""
    if len(source) > _MAX_TEMPLATE_CHARS:
        raise TemplateRejected(f"Vorlage ist zu lang (höchstens {_MAX_TEMPLATE_CHARS} Zeichen)")
    tree = _ENV.parse(source)
    _Checker(variables, lists).visit(tree, {})


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render in the sandbox on plain copies of the data (pydantic models become dicts)."""
    return _ENV.from_string(source).render(**{k: plain(v) for k, v in variables.items()})


def plain(value: Any) -> Any:
    """Only dicts, lists and scalars reach a template: no model objects with methods and class internals."""
    if isinstance(value, BaseModel):
        return plain(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _Checker:
    def __init__(self, variables: Mapping[str, frozenset[str] | None], lists: frozenset[str]) -> None:
        self.variables = variables
        self.lists = lists

    def visit(self, node: nodes.Node, scope: dict[str, frozenset[str] | None]) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            raise self._refuse(node, f"„{_describe(node)}“ ist in Vorlagen nicht erlaubt (nur if, for und set)")
        if isinstance(node, nodes.For):
            self._visit_for(node, scope)
            return
        if isinstance(node, nodes.Assign):
            self._visit_assign(node, scope)
            return
        if isinstance(node, nodes.Name):
            self._check_name(node, scope)
        elif isinstance(node, nodes.Getattr):
            self._check_attr(node, node.attr, scope)
        elif isinstance(node, nodes.Getitem):
            self._check_item(node, scope)
        elif isinstance(node, nodes.Filter | nodes.Test):
            self._check_filter(node)
        for child in node.iter_child_nodes():
            self.visit(child, scope)

    def _visit_for(self, node: nodes.For, scope: dict[str, frozenset[str] | None]) -> None:
        base = _base_name(node.iter)
        if base is not None and base not in self.variables and base not in scope:
            allowed = ", ".join(sorted(self.variables))
            raise self._refuse(node, f"„{base}“ ist keine erlaubte Variable (erlaubt: {allowed})")
        if base is None or base not in self.lists or base in scope:
            allowed = ", ".join(sorted(self.lists)) or "keine"
            raise self._refuse(node, f"Schleifen sind nur über die Listen erlaubt ({allowed})")
        if node.recursive or not isinstance(node.target, nodes.Name):
            raise self._refuse(node, "Schleifen brauchen genau eine Laufvariable")
        self.visit(node.iter, scope)
        inner = {**scope, node.target.name: self.variables.get(base), "loop": _LOOP_FIELDS}
        for child in [*node.body, *node.else_, *([node.test] if node.test else [])]:
            self.visit(child, inner)

    def _visit_assign(self, node: nodes.Assign, scope: dict[str, frozenset[str] | None]) -> None:
        if not isinstance(node.target, nodes.Name) or node.target.name in self.variables:
            raise self._refuse(node, "„set“ darf nur neue, einfache Namen belegen")
        self.visit(node.node, scope)
        scope[node.target.name] = frozenset()  # a computed value: text or number, no fields

    def _check_name(self, node: nodes.Name, scope: dict[str, frozenset[str] | None]) -> None:
        if node.ctx == "load" and node.name not in scope and node.name not in self.variables:
            allowed = ", ".join(sorted(self.variables))
            raise self._refuse(node, f"„{node.name}“ ist keine erlaubte Variable (erlaubt: {allowed})")

    def _check_attr(self, node: nodes.Getattr | nodes.Getitem, attr: str, scope: dict[str, Any]) -> None:
        base = node.node
        fields = self._fields_of(base, scope)
        if fields is not None:  # documented fields of plain dicts: "title" is a field there, not str.title
            if attr not in fields or attr.startswith("_"):
                allowed = ", ".join(sorted(fields)) or "keine"
                raise self._refuse(node, f"„{_label(base)}“ hat kein Feld „{attr}“ (erlaubt: {allowed})")
        elif attr.startswith("_") or attr in _METHOD_NAMES:
            raise self._refuse(node, f"„.{attr}“ ist kein Datenfeld und in Vorlagen nicht erlaubt")

    def _fields_of(self, node: nodes.Node, scope: dict[str, Any]) -> frozenset[str] | None:
        """The documented fields of ``p``, ``passages[0]`` or ``passages|first`` (None: not known)."""
        if isinstance(node, nodes.Name):
            return scope[node.name] if node.name in scope else self.variables.get(node.name)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int):
            return self._fields_of(node.node, scope)
        if isinstance(node, nodes.Filter) and node.name in {"first", "last"} and node.node is not None:
            return self._fields_of(node.node, scope)
        return None

    def _check_item(self, node: nodes.Getitem, scope: dict[str, Any]) -> None:
        """``x[0]``, ``x[:3]`` and ``x["feld"]``; a computed key could name any attribute at run time."""
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            self._check_attr(node, node.arg.value, scope)
        elif not isinstance(node.arg, nodes.Slice | nodes.Const):
            raise self._refuse(node, "Eckige Klammern nur mit fester Zahl oder festem Feldnamen")

    def _check_filter(self, node: nodes.Filter | nodes.Test) -> None:
        allowed = ALLOWED_FILTERS if isinstance(node, nodes.Filter) else ALLOWED_TESTS
        if node.name not in allowed:
            kind = "Filter" if isinstance(node, nodes.Filter) else "Test"
            raise self._refuse(node, f"{kind} „{node.name}“ ist nicht erlaubt (erlaubt: {', '.join(sorted(allowed))})")
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise self._refuse(node, "*args und **kwargs sind in Vorlagen nicht erlaubt")

    @staticmethod
    def _refuse(node: nodes.Node, message: str) -> TemplateRejected:
        return TemplateRejected(f"Zeile {node.lineno}: {message}")


def _base_name(node: nodes.Node) -> str | None:
    """The variable a (possibly filtered) expression starts from: ``passages|sort`` → ``passages``."""
    while isinstance(node, nodes.Filter) and node.node is not None:
        node = node.node
    return node.name if isinstance(node, nodes.Name) else None


def _label(node: nodes.Node) -> str:
    return node.name if isinstance(node, nodes.Name) else "Wert"


def _describe(node: nodes.Node) -> str:
    names = {nodes.Call: "Funktionsaufruf ()", nodes.Macro: "macro", nodes.CallBlock: "call",
             nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from … import",
             nodes.Extends: "extends", nodes.Block: "block", nodes.Pow: "**", nodes.Mul: "*",
             nodes.With: "with", nodes.FilterBlock: "filter-Block", nodes.NSRef: "namespace"}
    return next((label for kind, label in names.items() if isinstance(node, kind)), type(node).__name__)
