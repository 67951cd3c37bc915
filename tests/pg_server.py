"""A throwaway PostgreSQL server for the test session.

``postgres_server()`` starts a private server from the Debian binaries (``/usr/lib/postgresql/*/bin``) in a
temporary directory, listening only on 127.0.0.1 (plus a unix socket inside that directory) with trust
authentication, creates one database and yields its SQLAlchemy URL (psycopg 3 driver). The server is stopped and
the directory removed when the block ends. When the environment variable ``KONTOR_TEST_PG_URL`` is set, that
server is used instead and nothing is started.

PostgreSQL refuses to run as root; when the tests run as root (CI), ``initdb``/``pg_ctl`` run as the ``postgres``
system user that the Debian package creates, and the temporary directory is handed over to that user.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text

from tests.servers import free_port

ENV_URL = "KONTOR_TEST_PG_URL"
ENV_BIN_DIR = "KONTOR_TEST_PG_BIN"  # optional: a directory holding initdb and pg_ctl
SERVICE_USER = "postgres"
SUPERUSER = "postgres"
DATABASE = "kontor_test"
INSTALL_HINT = (
    "Install the server (Debian/Ubuntu: `apt-get install -y postgresql`) or point "
    f"{ENV_URL} at a running server, e.g. postgresql+psycopg://user@127.0.0.1:5432/postgres"
)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be used here at all (binaries or driver missing): a reason to skip, not a test failure."""


class PostgresStartError(RuntimeError):
    """The binaries are there but the server did not come up."""


def find_binaries() -> Path:
    """The ``bin`` directory of the newest installed PostgreSQL that has both ``initdb`` and ``pg_ctl``."""
    explicit = os.environ.get(ENV_BIN_DIR)
    candidates = [Path(explicit)] if explicit else []
    candidates += sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:  # other distributions / Homebrew put them on PATH
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    searched = ", ".join(str(c) for c in candidates) or "/usr/lib/postgresql/*/bin and PATH"
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found in {searched}. {INSTALL_HINT}")


def require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as error:
        raise PostgresUnavailable(
            f"The psycopg 3 driver is missing ({error}); install it with: pip install 'psycopg[binary]>=3.1'"
        ) from error


def normalise_url(url: str) -> str:
    """``postgresql://…`` / ``postgres://…`` become ``postgresql+psycopg://…``; other drivers stay as given."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass
class PostgresServer:
    """One private server: ``start()`` → ``url``; ``stop()`` stops it and deletes its directory."""

    bin_dir: Path
    root: Path = field(init=False)
    port: int = field(init=False, default=0)
    run_as: str | None = field(init=False, default=None)
    running: bool = field(init=False, default=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = DATABASE) -> str:
        return URL.create(
            "postgresql+psycopg", username=SUPERUSER, host="127.0.0.1", port=self.port, database=database
        ).render_as_string(hide_password=False)

    def start(self) -> str:
        self.run_as = SERVICE_USER if os.geteuid() == 0 else None
        owner = None
        if self.run_as:
            try:
                owner = pwd.getpwnam(self.run_as)
            except KeyError as error:
                raise PostgresUnavailable(
                    f"Running as root, but the system user {self.run_as!r} that should run the server does not "
                    f"exist. {INSTALL_HINT}"
                ) from error
        # Not pytest's tmp_path: /tmp/pytest-of-root is 0700 and the postgres user could not enter it.
        self.root = Path(tempfile.mkdtemp(prefix="kontor-pg-"))
        atexit.register(self.stop)  # also on an aborted session
        try:
            self.socket_dir.mkdir()
            if owner is not None:
                for path in (self.root, self.socket_dir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            self._initdb()
            self._configure()
            self._start_with_retries()
            self._create_database(DATABASE)
        except BaseException:
            self.stop()
            raise
        return self.url()

    def stop(self) -> None:
        root = getattr(self, "root", None)
        if root is None or not root.exists():
            return
        if self.running or (self.data_dir / "postmaster.pid").exists():
            with suppress(Exception):
                self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop"])
            self.running = False
        shutil.rmtree(root, ignore_errors=True)

    # -- steps ---------------------------------------------------------------------------------------------

    def _initdb(self) -> None:
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            what="initdb",
        )

    def _configure(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",  # a throwaway server: durability is not needed, speed is
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "16MB",
            "logging_collector": "off",
        }
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# kontor test server\n")
            handle.writelines(f"{key} = {value}\n" for key, value in settings.items())
        # initdb --auth=trust already trusts every local connection; keep it to loopback and the socket only.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )

    def _start_with_retries(self, attempts: int = 3) -> None:
        """Start on a free port; another process can grab the port between probing and binding, so retry."""
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            try:
                self._run(
                    [
                        "pg_ctl",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-o",
                        f"-p {self.port}",
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ],
                    what="pg_ctl start",
                )
                self.running = True
                return
            except PostgresStartError:
                if attempt == attempts:
                    raise

    def _create_database(self, name: str) -> None:
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()

    def _run(self, argv: list[str], what: str | None = None) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.run_as:
            command = _as_user(self.run_as, command)
        result = subprocess.run(
            command,
            cwd=self.root,  # the caller's cwd may not be readable by the postgres user
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )
        if result.returncode != 0:
            log = ""
            if self.log_file.exists():
                log = "\n--- server log (tail) ---\n" + "\n".join(
                    self.log_file.read_text(errors="replace").splitlines()[-30:]
                )
            raise PostgresStartError(
                f"{what or argv[0]} failed (exit {result.returncode}): {' '.join(command)}\n"
                f"{result.stdout}{result.stderr}{log}"
            )


def _as_user(user: str, command: list[str]) -> list[str]:
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *command]
    if shutil.which("setpriv"):
        entry = pwd.getpwnam(user)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", *command]
    raise PostgresUnavailable(f"Running as root but neither runuser nor setpriv is available to switch to {user!r}")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


@contextmanager
def postgres_server(environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """Yield a SQLAlchemy URL to a PostgreSQL database for the duration of the block.

    Raises ``PostgresUnavailable`` when PostgreSQL cannot be used here at all (the caller decides whether that
    means skip or fail) and ``PostgresStartError`` when the server was found but would not start.
    """
    environ = os.environ if environ is None else environ
    require_driver()
    external = environ.get(ENV_URL)
    if external:
        yield normalise_url(external)
        return
    server = PostgresServer(find_binaries())
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
