"""Background workers (relays, consumers) supervised inside a process, restarted if they crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from servicekit import metrics

logger = logging.getLogger("servicekit.workers")

WorkerRun = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class WorkerState:
    """What readiness reports of one worker."""

    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class WorkerSupervisor:
    """Runs named workers until stopped; a crashed worker restarts after a backoff."""

    def __init__(self, service: str, restart_backoff_s: float = 1.0) -> None:
        self.service = service
        self.restart_backoff_s = restart_backoff_s
        self._workers: dict[str, WorkerRun] = {}
        self.states: dict[str, WorkerState] = {}
        self._stop = asyncio.Event()

    def add(self, name: str, run: WorkerRun) -> None:
        """Register a worker before start."""
        self._workers[name] = run
        self.states[name] = WorkerState(name)

    async def start(self) -> None:
        """Start every registered worker."""
        self._stop.clear()
        for name, run in self._workers.items():
            state = self.states[name]
            state.task = asyncio.create_task(self._keep_running(name, run), name=f"worker:{name}")

    async def _keep_running(self, name: str, run: WorkerRun) -> None:
        state = self.states[name]
        backoff = self.restart_backoff_s
        while not self._stop.is_set():
            state.running = True
            metrics.WORKER_UP.labels(self.service, name).set(1)
            try:
                await run(self._stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.restarts += 1
                logger.exception("worker %s crashed; restarting in %.1fs", name, backoff)
            finally:
                state.running = False
                metrics.WORKER_UP.labels(self.service, name).set(0)
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, 30.0)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask every worker to finish its current item and stop."""
        self._stop.set()
        tasks = [s.task for s in self.states.values() if s.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def healthy(self) -> dict[str, bool]:
        """Per worker: running right now."""
        return {name: state.running for name, state in self.states.items()}
