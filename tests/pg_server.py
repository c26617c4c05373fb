"""A throw-away PostgreSQL server for the tests: Debian's binaries, a fresh cluster in a temporary
folder, a free localhost port, password authentication over TCP (so a wrong password fails).

Used by the ``postgres`` fixture in conftest.py. When the binaries are missing the tests skip,
unless ``ANALYTICS_REQUIRE_POSTGRES`` is set (``make test`` sets it): then they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "ANALYTICS_REQUIRE_POSTGRES"
USER = "analytics"
PASSWORD = "s3cret-pw"  # the tests check that it never appears in any output


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [b for b in found if (b / "pg_ctl").is_file() and b.parent.name.isdigit()]
    return max(found, key=lambda b: int(b.parent.name), default=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    bin_dir: Path
    root: Path
    port: int
    as_user: list[str]  # prefix that runs a command as the cluster's owner

    @property
    def data(self) -> Path:
        return self.root / "data"

    def uri(self, db: str = "analytics", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{db}"

    def run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, text=True)

    def psql(self, sql: str, db: str = "postgres") -> None:
        """Run SQL as the superuser over the Unix socket (trusted)."""
        self.run(
            str(self.bin_dir / "psql"), "-h", str(self.root), "-p", str(self.port), "-U",
            "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qc", sql,
        )  # fmt: skip

    def createdb(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}" OWNER {USER}')
        return self.uri(name)

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text("postgres-pw\n")
        os.chmod(pwfile, 0o644)
        self.run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", opts, "-w", "-t", "60", "start",
        )  # fmt: skip
        self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
             "-w", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> Server | None:
    """A running server, or None when the binaries are missing (the caller skips or fails)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="analytics-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to 'postgres'
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = Server(bin_dir, root, _free_port(), as_user)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = server.root / "log"
        detail = log.read_text() if log.is_file() else ""
        server.stop()
        raise RuntimeError(f"cannot start PostgreSQL: {exc.stderr}\n{detail}") from exc
    return server
