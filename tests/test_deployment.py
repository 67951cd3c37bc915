"""The deployment files in deploy/: the systemd units pass `systemd-analyze verify` (with the paths of this checkout
instead of /opt/kontor), every setting the example environment file names exists, and the processes the units
start, with that environment, leave exactly one of them watching the shared mailbox."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.config import FLAT, PROJECT_ROOT, Settings
from tests.servers import free_port

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


def _exec_args(unit: str) -> list[str]:
    """The arguments after ``kontor`` in a unit's ExecStart."""
    line = next(x for x in (DEPLOY / "systemd" / unit).read_text(encoding="utf-8").splitlines()
                if x.startswith("ExecStart="))
    words = line.removeprefix("ExecStart=").split()
    return words[words.index("/opt/kontor/.venv/bin/kontor") + 1:]


def _example_environment() -> dict[str, str]:
    lines = (DEPLOY / "kontor.env.example").read_text(encoding="utf-8").splitlines()
    return dict(x.split("=", 1) for x in lines if x.strip() and not x.startswith("#"))


def _owner_of(peer_port: int, listen_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the loopback client socket ``peer_port`` → ``listen_port`` (Linux /proc)."""
    local, remote = f"0100007F:{peer_port:04X}", f"0100007F:{listen_port:04X}"
    inode = next((fields[9] for fields in (x.split() for x in Path("/proc/net/tcp").read_text().splitlines()[1:])
                  if fields[1] == local and fields[2] == remote), None)
    for pid in pids:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to tell who connects")
def test_in_the_single_server_layout_exactly_one_process_watches_the_mailbox(tmp_path: Path) -> None:
    """The units and the example environment as installed: `kontor serve` (kontor-web) and two `kontor worker`
    (kontor-worker@1, @2) on one database, the mailbox an IMAP port on loopback. Only one process connects to it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    imap_port = listener.getsockname()[1]
    example = _example_environment()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KONTOR_")}
    env |= {"KONTOR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "KONTOR_WORKERS": example["KONTOR_WORKERS"],
            "KONTOR_MAIL_WATCH": example["KONTOR_MAIL_WATCH"], "KONTOR_IMAP_HOST": "127.0.0.1",
            "KONTOR_IMAP_PORT": str(imap_port), "KONTOR_IMAP_SECURITY": "none", "KONTOR_IMAP_USER": "kontor",
            "KONTOR_IMAP_PASSWORD": "geheim", "KONTOR_IMAP_TIMEOUT_S": "60"}
    web_args, worker_args = _exec_args("kontor-web.service"), _exec_args("kontor-worker@.service")
    assert web_args[0] == "serve" and worker_args[0] == "worker"
    port = free_port()
    web_args[web_args.index("--port") + 1] = str(port)
    run = [sys.executable, "-m", "assistant"]
    processes = [subprocess.Popen([*run, *web_args], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)]
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code < 600:
                    break
            time.sleep(0.2)
        processes += [subprocess.Popen([*run, *worker_args], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for worker in processes[1:]:  # each says it runs (and whether with the mailbox) once it has started
            assert worker.stderr is not None and "Kontor-Worker läuft" in worker.stderr.readline()
        pids = [p.pid for p in processes]
        watchers: list[int | None] = []
        deadline = time.monotonic() + 5  # every watcher connects at its start; the workers have started
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                connection, peer = listener.accept()
                held.append(connection)  # kept open: the watcher waits for a greeting and does not retry
                watchers.append(_owner_of(peer[1], imap_port, pids))
        assert all(p.poll() is None for p in processes)
        assert watchers == [processes[0].pid]  # kontor-web, once; neither worker
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for connection in held:
            connection.close()
        listener.close()
