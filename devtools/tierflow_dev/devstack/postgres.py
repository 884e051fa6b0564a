"""A private PostgreSQL server for development and tests, from Debian's binaries.

Debian installs the server under /usr/lib/postgresql/<major>/bin (``apt-get install
postgresql``). PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` system user through ``runuser`` and the data folder is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tierflow_dev.devstack.procs import ManagedProcess, StackError, ensure_port_free, wait_until

SERVER_USER = "postgres"
SUPERUSER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin() -> Path:
    """Return the newest installed PostgreSQL bin folder, or raise StackError saying how."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise StackError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
            "install them with: apt-get install -y postgresql"
        )
    return candidates[-1].parent


@dataclass
class PostgresServer:
    """One PostgreSQL cluster under ``home``: data in ``home/pgdata``, listening on ``port``."""

    home: Path
    port: int
    fast: bool = True  # no fsync: for throwaway dev and test data only
    bin_dir: Path = field(default_factory=find_pg_bin)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.data_dir = self.home / "pgdata"
        self.socket_dir = self.home / "pgsock"
        settings = ["-c", "shared_buffers=32MB", "-c", "max_connections=200"]
        if self.fast:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            settings += ["-c", "full_page_writes=off"]
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        argv += ["-k", str(self.socket_dir), "-p", str(self.port), "-h", "127.0.0.1", *settings]
        self.process = ManagedProcess(
            name="postgres", argv=self._as_server_user(argv), home=self.home
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60.0) -> None:
        """Initialise the cluster once, start the server and wait until it accepts logins."""
        if self.process.is_running():
            self._wait_ready(timeout)
            return
        ensure_port_free(self.port, "PostgreSQL")
        self._initdb()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.socket_dir)
        self.process.start()
        self._wait_ready(timeout)

    def stop(self) -> bool:
        """Stop with a fast shutdown (sessions are cut); return True if it was running."""
        if not self.process.is_running():
            return False
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "fast"]
        subprocess.run(self._as_server_user([*pg_ctl, "-w", "-t", "30"]), capture_output=True)
        self.process.stop(timeout=10)  # reaps runuser and removes the pidfile
        return True

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of ``database`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(
        self, name: str, ctype: str | None = None, template: str | None = None
    ) -> str:
        """Create a database (dropping one of that name) and return its URL.

        Empty, or a copy of the database ``template`` (which nobody may be connected to).
        ``ctype`` sets LC_CTYPE (e.g. ``C.UTF-8``: pg_trgm then indexes Chinese characters);
        the default is the cluster's (C). Sorting stays bytewise (LC_COLLATE C) either way.
        """
        for what, value in (("database name", name), ("template", template)):
            if value is not None and not _NAME.match(value):
                raise ValueError(f"{what} {value!r}: use lowercase letters, digits and _")
        if ctype is not None and not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", ctype):
            raise ValueError(f"LC_CTYPE {ctype!r} is not a locale name")
        if ctype is not None and template is not None:
            raise ValueError("a copy of a template keeps the template's LC_CTYPE")
        import psycopg

        options = f' TEMPLATE "{template}"' if template else ""
        if ctype:
            options = f" TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE '{ctype}'"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"{options}')
        return self.url(name)

    def answers(self) -> bool:
        """Return True if the server accepts a login and a query now."""
        import psycopg

        try:
            with psycopg.connect(self._dsn("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def ensure_database(self, name: str) -> str:
        """Create ``name`` unless it exists (its data stays); return its URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and _")
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # ------------------------------------------------------------------ helpers
    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        def ready() -> bool:
            with psycopg.connect(self._dsn("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True

        wait_until(
            ready,
            timeout,
            f"PostgreSQL on 127.0.0.1:{self.port}",
            log=self.process.log_path,
            alive=self.process.is_running,
        )

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.data_dir)
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER]
        argv += ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(self._as_server_user(argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"initdb failed for {self.data_dir}: {done.stderr.strip()}")

    def _as_server_user(self, argv: list[str]) -> list[str]:
        """Return ``argv`` run as the postgres user when we are root, else unchanged."""
        if os.geteuid() != 0:
            return argv
        if shutil.which("runuser") is None:
            raise StackError("running as root needs runuser (util-linux) to start PostgreSQL")
        return ["runuser", "-u", SERVER_USER, "--", *argv]

    def _hand_over(self, path: Path) -> None:
        """Give ``path`` to the postgres user (as root) and check it can reach it."""
        if os.geteuid() != 0:
            path.chmod(0o700)
            return
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise StackError(
                f"user {SERVER_USER!r} not found; install the server: apt-get install -y postgresql"
            ) from None
        os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o700)
        probe = subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-w", str(path)])
        if probe.returncode != 0:
            raise StackError(
                f"user {SERVER_USER!r} cannot reach {path}: make its parent folders "
                "traversable (chmod o+x) or choose a home outside private folders"
            )
