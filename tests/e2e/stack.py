"""A whole platform in real processes: a Tansu broker, the LOS and the LMS on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from servicekit.broker import TansuBroker, free_port
from servicekit.kafka import ensure_topics
from servicekit.testing import _pg_execute, postgres_admin_url, with_database

BIN = Path(sys.executable).parent


@dataclass
class ServiceProc:
    """One running service process."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the service."""
        return f"http://127.0.0.1:{self.port}"

    restarts: int = 0

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, migrate: bool = True) -> None:
        """Migrate, then serve (API plus relay and consumer)."""
        if migrate:
            subprocess.run(
                [str(BIN / self.name), "migrate"], env=self.env, check=True, capture_output=True
            )
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / self.name), "serve"],
            env=self.env,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM and wait, as Ctrl-C would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Stack:
    """Broker plus both services, on SQLite files or fresh PostgreSQL databases."""

    backend: str
    workdir: Path
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    broker: TansuBroker = field(init=False)
    los: ServiceProc = field(init=False)
    lms: ServiceProc = field(init=False)
    _databases: list[str] = field(default_factory=list)

    def _database_url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / name}.db"
        admin = postgres_admin_url()
        assert admin
        db = f"e2e_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        asyncio.run(_pg_execute(admin, f'CREATE DATABASE "{db}"'))
        self._databases.append(db)
        return with_database(admin, db)

    def _env(self, prefix: str, port: int, database_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            f"{prefix}PORT": str(port),
            f"{prefix}DATABASE_URL": database_url,
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            f"{prefix}ENVIRONMENT": "test",
            f"{prefix}LOG_JSON": "true",
            f"{prefix}RELAY_POLL_INTERVAL_S": "0.2",
            f"{prefix}CONSUMER_BACKOFF_INITIAL_S": "0.05",
            # A retry after a crash meets its own abandoned key; wait briefly, not 5 s.
            f"{prefix}IDEMPOTENCY_IN_FLIGHT_WAIT_S": "1",
        }
        env.update(self.extra_env.get(prefix.rstrip("_").lower(), {}))
        return env

    def start(self) -> Stack:
        """Start the broker, create topics, start both services."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = TansuBroker(log_file=self.workdir / "broker.log").start()
        asyncio.run(ensure_topics(self.broker.bootstrap_servers))
        los_port, lms_port = free_port(), free_port()
        self.los = ServiceProc(
            "los",
            los_port,
            self._env("LOS_", los_port, self._database_url("los")),
            self.workdir / "los.log",
        )
        self.lms = ServiceProc(
            "lms",
            lms_port,
            self._env("LMS_", lms_port, self._database_url("lms")),
            self.workdir / "lms.log",
        )
        try:
            self.lms.start()
            self.los.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop services first, then the broker; drop any PostgreSQL databases."""
        for svc in ("los", "lms"):
            proc = getattr(self, svc, None)
            if proc is not None:
                proc.stop()
        broker = getattr(self, "broker", None)
        if broker is not None:
            broker.stop()
        admin = postgres_admin_url()
        for db in self._databases:
            if admin:
                asyncio.run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        self._databases.clear()

    def heal(self, env_overrides: dict[str, str] | None = None) -> int:
        """Restart any service that died (a crash test's supervisor); returns how many."""
        restarted = 0
        for proc in (self.los, self.lms):
            if not proc.alive():
                if env_overrides is not None:
                    proc.env.update(env_overrides)
                proc.restarts += 1
                restarted += 1
                try:
                    proc.start(migrate=False)
                except RuntimeError:
                    continue  # died again while starting; the next heal restarts it
        return restarted

    def logs(self, tail: int | None = None) -> str:
        """Both services' logs (the last `tail` characters of each), for a failing test."""
        return "\n".join(
            f"--- {p.log.name} ---\n" + p.log.read_text(errors="replace")[-(tail or 0) :]
            for p in (self.los, self.lms)
            if p.log.exists()
        )
