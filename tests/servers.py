"""Starting real servers on loopback for tests: a free port, and `kontor serve` once it answers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

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


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """An app (the harness's, with its fakes) behind a real uvicorn on loopback in this process, its base URL once
    /api/health answers; a closed connection or a browser needs a real socket, not the test client."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("the in-process server did not answer /api/health")
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
