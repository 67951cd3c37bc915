"""The deployment files in deploy/: the systemd units pass `systemd-analyze verify` (with the paths of this checkout
instead of /opt/kontor), and every setting the example environment file names exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from assistant.config import FLAT, PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("kontor-*"))


def test_the_units_are_the_ones_the_guide_names() -> None:
    assert [u.name for u in UNITS] == ["kontor-backup.service", "kontor-backup.timer", "kontor-web.service",
                                       "kontor-worker@.service"]
    guide = (PROJECT_ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert all(u.name in guide for u in UNITS)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace("/opt/kontor", str(PROJECT_ROOT))
        name = unit.name.replace("@.service", "@1.service")  # an instance of the template
        (tmp_path / name).write_text(text, encoding="utf-8")
    for unit in sorted(tmp_path.iterdir()):
        checked = subprocess.run(["systemd-analyze", "verify", unit.name], cwd=tmp_path, capture_output=True,
                                 text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
        assert checked.returncode == 0 and not checked.stderr.strip(), f"{unit.name}: {checked.stderr}"


def test_every_setting_in_the_example_environment_exists() -> None:
    names = re.findall(r"^#?\s*KONTOR_([A-Z0-9_]+)=", (DEPLOY / "kontor.env.example").read_text(), re.M)
    known = {n.upper() for n in FLAT} | {n.upper() for n in Settings.model_fields}
    assert names and [n for n in names if n not in known] == []
