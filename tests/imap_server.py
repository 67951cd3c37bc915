"""A throwaway Dovecot IMAP server for the test session.

The shared mailbox is IMAP, and IMAP servers differ in exactly the details that matter (folder separators,
UTF-7 folder names, MOVE, UIDPLUS, IDLE), so the tests talk to a real server instead of a fake.
``dovecot_server()`` starts a private Dovecot from the Debian binaries (``/usr/sbin/dovecot``) in a temporary
directory: its own configuration file, sockets, state, log and Maildir, listening only on 127.0.0.1 with plain
IMAP (no TLS) and one throwaway user from a passwd-file. It yields an ``ImapServer``; the server is stopped and
the directory removed when the block ends (and at exit, should the session be aborted).

Dovecot's master process may run as root (CI) or as an ordinary user. As root, Dovecot refuses mail access for
UID 0, so the mail user gets the uid/gid of the unprivileged ``nobody`` and the Maildir is handed over to it; the
login and internal processes run as ``dovenull`` and ``dovecot``, which the Debian package creates. As an
ordinary user, every process runs as that user and the login process is not chrooted.
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.servers import free_port

ENV_REQUIRE = "KONTOR_REQUIRE_IMAP"
USER = "kontor"
PASSWORD = "kontor-test-passwort"
MAIL_USER = "nobody"  # the uid/gid of the mailbox when the tests run as root
LOGIN_USER = "dovenull"  # Dovecot's defaults for default_login_user / default_internal_user
INTERNAL_USER = "dovecot"  # and its group is default_internal_group
START_TIMEOUT = 20.0
INSTALL_HINT = "Install Dovecot (Debian/Ubuntu: `apt-get install -y --no-install-recommends dovecot-imapd`)"


class ImapUnavailable(RuntimeError):
    """Dovecot cannot be used here at all (binary or system users missing): a reason to skip, not a failure."""


class ImapStartError(RuntimeError):
    """Dovecot is installed but the server did not come up."""


@dataclass(frozen=True)
class ImapServer:
    """Where the throwaway server listens and who may log in: plain IMAP (STARTTLS offered) on ``port``, IMAP over
    TLS on ``tls_port``, with a self-signed certificate for 127.0.0.1 that ``ca_file`` holds."""

    host: str
    port: int
    user: str
    password: str
    maildir: Path
    tls_port: int = 0
    ca_file: Path | None = None


def find_dovecot() -> Path:
    """The ``dovecot`` master binary (``/usr/sbin`` is not on an ordinary user's PATH)."""
    candidates = [shutil.which("dovecot"), "/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ImapUnavailable(f"Dovecot not found (looked on PATH, in /usr/sbin and /usr/local/sbin). {INSTALL_HINT}")


@dataclass(frozen=True)
class _Identities:
    """Who owns the mailbox and whom Dovecot's own processes run as."""

    mail_uid: int
    mail_gid: int
    login_user: str
    internal_user: str
    internal_group: str
    as_root: bool


def _identities() -> _Identities:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        my_group = grp.getgrgid(os.getegid()).gr_name
        return _Identities(os.geteuid(), os.getegid(), me, me, my_group, as_root=False)
    try:
        mail = pwd.getpwnam(MAIL_USER)
        for name in (LOGIN_USER, INTERNAL_USER):
            pwd.getpwnam(name)
        grp.getgrnam(INTERNAL_USER)
    except KeyError as error:
        raise ImapUnavailable(
            f"Running as root, but the system user or group {error.args[0]} that Dovecot needs does not exist "
            f"(the Debian package creates dovecot and dovenull). {INSTALL_HINT}"
        ) from error
    return _Identities(mail.pw_uid, mail.pw_gid, LOGIN_USER, INTERNAL_USER, INTERNAL_USER, as_root=True)


def _config(root: Path, port: int, tls_port: int, ids: _Identities) -> str:
    """The whole configuration: nothing is read from /etc/dovecot."""
    return f"""\
# Kontor's throwaway test server (tests/imap_server.py)
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {ids.login_user}
default_internal_user = {ids.internal_user}
default_internal_group = {ids.internal_group}
first_valid_uid = {ids.mail_uid}
last_valid_uid = {ids.mail_uid}
first_valid_gid = {ids.mail_gid}
last_valid_gid = {ids.mail_gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""" + ("" if ids.as_root else _NO_CHROOT)


# Only root may chroot(): as an ordinary user, every service that Dovecot chroots by default runs without.
_NO_CHROOT = "".join(
    f"service {name} {{\n  chroot =\n}}\n"
    for name in ("imap-login", "imap-urlauth-login", "anvil", "ipc", "old-stats", "aggregator", "director")
)


def _certificate(folder: Path) -> None:
    """A self-signed certificate for 127.0.0.1 (a day is enough for a test session); it is its own CA."""
    folder.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    for name in ("key.pem", "cert.pem"):
        (folder / name).chmod(0o644)  # read by the master as root or as this user; a throwaway key


def _prepare(root: Path, ids: _Identities) -> Path:
    """Users file, certificate and the mail user's home; returns the Maildir path (Dovecot creates it on first
    login)."""
    _certificate(root / "tls")
    home = root / "home" / USER
    home.mkdir(parents=True)
    # World-readable on purpose: the auth process runs as the internal user; the password is a throwaway. Set
    # explicitly: Kontor sets the process's umask to 077 (its data directory), and an earlier test may have.
    users = root / "users"
    users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{ids.mail_uid}:{ids.mail_gid}::{home}::\n")
    users.chmod(0o644)
    if ids.as_root:
        os.chown(home, ids.mail_uid, ids.mail_gid)
        root.chmod(0o755)  # mkdtemp makes it 0700; the mail user must reach its home
        (root / "home").chmod(0o755)
    return home / "Maildir"


def _log_tail(root: Path, lines: int = 30) -> str:
    parts = []
    for name in ("dovecot.log", "dovecot.out"):
        path = root / name
        if path.exists() and path.stat().st_size:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name} (tail) ---\n" + "\n".join(tail))
    return "\n".join(parts) or "(Dovecot wrote no log)"


def _wait_for_greeting(process: subprocess.Popen[bytes], port: int, timeout: float) -> str:
    """Until the port answers with ``* OK``; returns "" on success, else why not."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"dovecot exited with status {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                greeting = connection.recv(512)
            if greeting.startswith(b"* OK"):
                return ""
            last_error = f"unexpected greeting {greeting[:100]!r}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.05)
    return f"no IMAP greeting on 127.0.0.1:{port} within {timeout:.0f} s ({last_error})"


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # the master stops its children on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _start(binary: Path, root: Path, ids: _Identities,
           attempts: int = 3) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start on a free port; another process can grab the port between probing and binding, so retry."""
    conf = root / "dovecot.conf"
    for attempt in range(1, attempts + 1):
        port, tls_port = free_port(), free_port()
        conf.write_text(_config(root, port, tls_port, ids), encoding="utf-8")
        with (root / "dovecot.out").open("wb") as out:  # -F: stays in the foreground, this is the master's pid
            process = subprocess.Popen([str(binary), "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=root, umask=0o022)  # not the tests' 077
        problem = _wait_for_greeting(process, port, START_TIMEOUT)
        if not problem:
            return process, port, tls_port
        log = _log_tail(root)
        _terminate(process)
        if attempt == attempts or "Address already in use" not in log:
            raise ImapStartError(f"Dovecot did not start: {problem}\ncommand: {binary} -F -c {conf}\n{log}")
    raise AssertionError("unreachable")


@contextmanager
def dovecot_server() -> Iterator[ImapServer]:
    """Yield a running private Dovecot for the duration of the block.

    Raises ``ImapUnavailable`` when Dovecot cannot be used here at all (the caller decides whether that means
    skip or fail) and ``ImapStartError`` when it is installed but would not start.
    """
    binary = find_dovecot()
    ids = _identities()
    root = Path(tempfile.mkdtemp(prefix="kontor-imap-"))  # not pytest's tmp_path: the mail user must enter it
    process: subprocess.Popen[bytes] | None = None

    def stop() -> None:
        if process is not None:
            _terminate(process)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)  # also on an aborted session
    try:
        maildir = _prepare(root, ids)
        process, port, tls_port = _start(binary, root, ids)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, maildir, tls_port, root / "tls" / "cert.pem")
    finally:
        stop()
        atexit.unregister(stop)


def connect(server: ImapServer, timeout: float = 10) -> IMAPClient:
    """A logged-in IMAPClient (plain IMAP); the caller logs out."""
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=timeout)
    client.login(server.user, server.password)
    return client


def append(server: ImapServer, raw: bytes, folder: str = "INBOX", flags: Sequence[str | bytes] = ()) -> int | None:
    """Append one message (RFC 822 bytes) to an existing folder; returns its UID (from APPENDUID) if given."""
    client = connect(server)
    try:
        response = client.append(folder, raw, flags=tuple(flags))
    finally:
        with suppress(Exception):
            client.logout()
    match = re.search(rb"\[APPENDUID \d+ (\d+)\]", response or b"")
    return int(match.group(1)) if match else None


def reset(server: ImapServer) -> None:
    """Empty the mailbox: every folder but INBOX deleted, INBOX expunged (the server lives for the session)."""
    client = connect(server)
    try:
        folders = [
            (name.count((separator or b"/").decode()), name)
            for flags, separator, name in client.list_folders()
            # a bare parent (\Noselect) is not a folder of its own: it goes with its last child
            if name.upper() != "INBOX" and b"\\noselect" not in {flag.lower() for flag in flags}
        ]
        for _depth, name in sorted(folders, reverse=True):  # children before parents
            client.delete_folder(name)
        client.select_folder("INBOX")
        uids = client.search("ALL")
        if uids:
            client.delete_messages(uids)
            client.expunge()
    finally:
        with suppress(Exception):
            client.logout()
