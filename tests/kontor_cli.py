"""The `kontor` command in this process (no interpreter start per call): settings from the given environment,
exit code and both output streams captured, exactly as `main()` ends for a user."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest

from assistant.cli import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def kontor(env: dict[str, str], *args: str) -> Result:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(stdout), redirect_stderr(stderr):
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setattr(sys, "argv", ["kontor", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Result(code, stdout.getvalue(), stderr.getvalue())
