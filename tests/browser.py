"""Debian's chromium for the browser tests: where it is, how it starts here, and when its tests may skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# the machine has no network: without these flags chromium keeps knocking on Google's hosts
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
# CI installs chromium (.ci/run) and sets KONTOR_REQUIRE_BROWSER=1: there a missing browser fails instead of skipping
needs_browser = pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("KONTOR_REQUIRE_BROWSER") != "1",
                                   reason="Debian chromium fehlt (apt-get install chromium)")
