"""A real PostgreSQL server for the tests: Debian's postgresql package, initdb into a temporary folder,
started on loopback with password (SCRAM) authentication, stopped at the end of the session.

PostgreSQL refuses to run as root, so under root the server runs as `nobody` (its folder is handed over to
that user). Each test asks `database()` for a database of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from chatfleet.chat.postgres import PostgresConfig
from tests.helpers.net import free_port

SUPERUSER = "chatfleet_admin"
APP_USER = "chatfleet_app"


def postgres_bin() -> Path:
    """The newest installed server's programs (override: CHATFLEET_POSTGRES_BIN)."""
    override = os.environ.get("CHATFLEET_POSTGRES_BIN")
    if override:
        return Path(override)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise RuntimeError(
            "no PostgreSQL server under /usr/lib/postgresql: run `CHATFLEET_WITH_POSTGRES=1 bash "
            "scripts/bootstrap.sh` (installs Debian's postgresql package)"
        )
    return versions[-1].parent


@dataclass
class PostgresServer:
    root: Path
    bindir: Path
    port: int
    admin_password: str
    app_password: str
    run: dict[str, object]
    _names: list[str] = field(default_factory=list)

    def _ctl(self, *args: str, check: bool = True) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off"
        )
        ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log")]
        subprocess.run([*ctl, "-o", options, *args], **{**self.run, "check": check})  # type: ignore[call-overload]

    def start(self) -> None:
        self._ctl("-w", "start")

    def stop(self) -> None:
        """Immediate shutdown: what clients see when the database goes away."""
        self._ctl("-m", "immediate", "-w", "stop", check=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=database,
            user=SUPERUSER,
            password=self.admin_password,
            autocommit=True,
        )

    def database(self) -> str:
        """A new empty database owned by the app's role."""
        name = f"t{len(self._names)}_{secrets.token_hex(4)}"
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_USER))
            )
        self._names.append(name)
        return name

    def config(self, database: str, **overrides: object) -> PostgresConfig:
        """How the service connects as the app's role (password auth, no TLS on loopback)."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "database": database,
            "user": APP_USER,
            "sslmode": "disable",
            "password": self.app_password,
            "connect_timeout_s": 5.0,
        }
        values.update(overrides)
        return PostgresConfig(**values)  # type: ignore[arg-type]

    def settings(self, database: str) -> dict[str, object]:
        """The same as the service's CHATFLEET_POSTGRES_* settings (keyword arguments of Settings)."""
        return {
            "postgres_host": self.host,
            "postgres_port": self.port,
            "postgres_database": database,
            "postgres_user": APP_USER,
            "postgres_auth": "password",
            "postgres_password": self.app_password,
            "postgres_sslmode": "disable",
        }

    def set_app_password(self, password: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(APP_USER), sql.Literal(password))
            )
        self.app_password = password


def _as_server_user() -> dict[str, object]:
    """subprocess arguments that drop root to `nobody` (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("nobody")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start; always stopped and removed."""
    bindir = postgres_bin()
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="chatfleet-pg-"))
    drop = _as_server_user()
    if drop:
        os.chown(root, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
    data = root / "data"
    admin_password = secrets.token_urlsafe(16)
    pwfile = root / "pw"
    pwfile.write_text(admin_password)
    if drop:
        os.chown(pwfile, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
    run = {"check": True, "capture_output": True, "text": True, "cwd": root, **drop}
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        **run,  # type: ignore[call-overload]
    )
    server = PostgresServer(root, bindir, free_port(), admin_password, secrets.token_urlsafe(16), run)
    try:
        server.start()
        with server.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_USER), sql.Literal(server.app_password)
                )
            )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
