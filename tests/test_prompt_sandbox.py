"""A prompt is data an expert edits, never code the server runs: the known Jinja2 escapes are refused when a
template is saved or loaded, and the sandbox stops them at render time even if a file slipped past the check."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from assistant.prompts import PromptError, check_prompt_part, parse_prompt_file
from assistant.templating import render

CANARY = "/tmp/kontor-sandbox-canary"
# Each one of these ran `id` or could reach Python internals with a plain jinja2.Environment.
ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch " + CANARY + "').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch " + CANARY + "') }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{% if cycler.__init__.__globals__.os.system('touch " + CANARY + "') %}{% endif %}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context.cycler }}",
    "{{ question.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ question['__class__'] }}",
    "{{ question|attr('__class__') }}",
    "{{ passages|map(attribute='__class__')|list }}",
    "{{ question.format(question) }}",
    "{{ '%s'|format(question) }}",
    "{{ company.items() }}",
    "{{ company.__len__ }}",
    "{{ range(10**9)|list }}",
    "{{ question * 1000000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{% for p in passages %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{% for c in question %}{% for d in question %}x{% endfor %}{% endfor %}",
    "{% set x = namespace(a=1) %}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}",
    "{{ question.upper }}",
    "{{ passages[0].__class__ }}",
    "{{ passages[question] }}",
    "{% for p in passages %}{{ p.__dict__ }}{% endfor %}",
    "{% for p in passages %}{{ p.geheim }}{% endfor %}",
    "{% with x = cycler %}{{ x }}{% endwith %}",
    "{{ question|center(1000000000) }}",
]


def _refused_text(task: str, template: str) -> str:
    with pytest.raises(PromptError) as caught:
        check_prompt_part(task, "user", template)
    return str(caught.value)


@pytest.mark.parametrize("template", ESCAPES)
def test_known_escapes_are_refused_with_a_german_reason(template: str) -> None:
    message = _refused_text("answer", template)
    assert "Zeile 1" in message and ("nicht erlaubt" in message or "keine erlaubte" in message
                                     or "kein Feld" in message or "nur" in message), message


def test_the_system_part_sees_only_the_company() -> None:
    with pytest.raises(PromptError, match="question"):
        check_prompt_part("answer", "system", "{{ question }}")
    check_prompt_part("answer", "system", "Kundenservice von {{ company.name }} in {{ company.city }}")


def test_documented_variables_filters_and_blocks_pass() -> None:
    check_prompt_part("answer", "user", (
        "{% set n = passages|length %}{% for p in passages|reverse %}[{{ loop.index }}] {{ p.title|upper }}"
        "{% if p.section %} – {{ p['section'] }}{% endif %}: {{ p.text|truncate(300) }}\n{% endfor %}"
        "{{ question|trim }} ({{ n }} Quellen{{ ', erste: ' ~ passages[0].title if passages }})"))
    check_prompt_part("categorise", "user", "{% for c in candidates %}- {{ c.id }}: {{ c.name }}{% endfor %}{{ text }}")
    assert "candidates" in _refused_text("answer", "{% for c in candidates %}{% endfor %}")


@pytest.mark.parametrize("template", [
    "{{ cycler.__init__.__globals__.os.popen('touch " + CANARY + "').read() }}",
    "{{ question.__class__.__mro__ }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ company.update({'name': 'Fremd'}) }}",
])
def test_the_sandbox_stops_escapes_that_skip_the_check(template: str) -> None:
    with pytest.raises(jinja2.TemplateError):  # SecurityError or UndefinedError: no globals, no internals
        render(template, {"question": "Frage", "company": {"name": "X"}})
    assert not Path(CANARY).exists()


def test_a_hostile_file_on_disk_is_refused_when_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "categorise"
    folder.mkdir()
    path = folder / "v1.md"
    path.write_text("---\nversion: 1\ntask: categorise\nauthor: t\ncreated: 2026-11-01\n---\n[system]\nX\n[user]\n"
                    f"{{% if cycler.__init__.__globals__.os.system('touch {CANARY}') %}}{{% endif %}}{{{{ text }}}}\n",
                    encoding="utf-8")
    with pytest.raises(PromptError, match="Funktionsaufruf"):
        parse_prompt_file(path)
    assert not Path(CANARY).exists()


def test_the_letter_template_is_checked_like_a_prompt() -> None:
    check_prompt_part("letter", "letter", (
        "Guten Tag {{ customer }},\n{% for s in sections %}{% if s.handover %}{{ s.topic }}{% else %}{{ s.text }}"
        "{% endif %}{% endfor %}\n{{ company.signature|default('Ihr Kundenservice') }}"))
    for template in ESCAPES[:6] + ["{% for s in sections %}{{ s.__class__ }}{% endfor %}", "{{ question }}"]:
        with pytest.raises(PromptError):
            check_prompt_part("letter", "letter", template)
