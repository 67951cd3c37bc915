"""Starting real servers on loopback for tests: a free port, and `kontor serve` once it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from assistant.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_kontor(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`kontor serve` on ``port``, returned once /api/health answers (a minute at most)."""
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], env=env,
                              cwd=PROJECT_ROOT, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("kontor serve did not start")
