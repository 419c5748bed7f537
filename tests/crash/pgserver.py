"""A private PostgreSQL server for tests that must stop and start it.

The shared server the other tests use must stay up, so the database-restart test runs its
own cluster from the machine's PostgreSQL binaries (initdb, pg_ctl) in a temporary
directory, on a free loopback port. As root, the server runs as the `postgres` user
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from servicekit.broker import free_port


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: PG_BIN_DIR, the PATH, or Debian's versioned directory."""
    explicit = os.environ.get("PG_BIN_DIR")
    if explicit:
        return Path(explicit)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """initdb, start, fast-stop and start again; trust auth on 127.0.0.1 only."""

    def __init__(self, workdir: Path) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = bin_dir
        self.dir = workdir / "pgdata"
        self.socket_dir = workdir / "pgsock"
        self.log = workdir / "postgres.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        """Connection URL for the superuser, database `postgres`."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        """Create the cluster (owned by `postgres` when running as root)."""
        for path in (self.dir.parent, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            for path in (self.dir.parent, self.socket_dir, self.log):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.socket_dir} -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop; `fast` rolls back open transactions and disconnects every client."""
        self._run("pg_ctl", "-D", str(self.dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        """Whether pg_ctl sees a server on the data directory."""
        command = [str(self.bin / "pg_ctl"), "-D", str(self.dir), "status"]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
