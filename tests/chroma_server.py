"""A throwaway chroma server (`chroma run`, installed with the chromadb package) on loopback for the test
session: a temporary data folder, a free port, ready when its heartbeat answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import free_port


@contextmanager
def chroma_server() -> Iterator[str]:
    """Yields the server's URL; the server and its folder are gone afterwards."""
    binary = Path(sys.executable).parent / "chroma"
    folder = Path(tempfile.mkdtemp(prefix="kontor-chroma-"))
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen([str(binary), "run", "--path", str(folder / "data"), "--host", "127.0.0.1",
                                "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chroma run did not start: " + (folder / "server.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
