"""The runtime a service wires once at start-up, and the FastAPI app around it."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.brokerwatch import BrokerLossWatch
from servicekit.clock import Clock, SystemClock
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.errors import install_error_handlers
from servicekit.health import Check, ScrapeHook, health_router
from servicekit.idempotency import IdempotencyMiddleware
from servicekit.inbox import (
    BatchHandler,
    DeadLetterSink,
    Handler,
    InboxProcessor,
    KafkaInboxConsumer,
)
from servicekit.kafka import ensure_topics, make_consumer, make_producer
from servicekit.logs import configure_logging
from servicekit.middleware import RequestContextMiddleware
from servicekit.openapi import install as install_openapi
from servicekit.outbox import OutboxRelay, RelayLeaderLock
from servicekit.settings import ServiceSettings
from servicekit.textguard import NulGuardMiddleware
from servicekit.tracing import configure_tracing
from servicekit.workers import WorkerRun, WorkerSupervisor

logger = logging.getLogger("servicekit.app")


@dataclass
class ConsumerSpec:
    """One inbox consumer a service runs: its group, topics and handlers by event type."""

    name: str
    group_id: str
    topics: Sequence[str]
    handlers: Mapping[str, Handler]
    permanent_errors: tuple[type[Exception], ...] = ()
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)


@dataclass
class Runtime:
    """Everything a service process holds: settings, database, relay, consumers, workers."""

    settings: ServiceSettings
    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory
    relay: OutboxRelay
    consumers: dict[str, KafkaInboxConsumer] = field(default_factory=dict)
    supervisor: WorkerSupervisor | None = None
    broker_watch: BrokerLossWatch | None = None
    workers: dict[str, WorkerRun] = field(default_factory=dict)
    """The service's own background workers (beside the relay and consumers)."""

    def add_worker(self, name: str, run: WorkerRun) -> None:
        """Register a service worker, started and supervised with the relay and consumers."""
        self.workers[name] = run

    async def start_workers(self) -> None:
        """Create topics if asked, then start the relay and every consumer."""
        if self.settings.kafka_create_topics:
            try:
                await ensure_topics(
                    self.settings.kafka_bootstrap_servers,
                    timeout_s=10.0,
                    replication_factor=self.settings.kafka_replication_factor,
                )
            except Exception as exc:
                logger.warning("could not create topics yet: %s", exc)
        supervisor = WorkerSupervisor(self.settings.service_name)
        supervisor.add("outbox-relay", self.relay.run)
        if self.settings.broker_watch_interval_s > 0:
            self.broker_watch = BrokerLossWatch(
                self.settings.service_name,
                self.settings.kafka_bootstrap_servers,
                self.uow_factory.session_factory,
                self.relay,
                interval_s=self.settings.broker_watch_interval_s,
                republish_window_s=self.settings.broker_loss_republish_window_s,
                replication_factor=self.settings.kafka_replication_factor,
                on_loss=[consumer.rewind for consumer in self.consumers.values()],
                on_healed=[consumer.renew for consumer in self.consumers.values()],
            )
            supervisor.add("broker-watch", self.broker_watch.run)
        for name, consumer in self.consumers.items():
            supervisor.add(name, consumer.run)
        for name, run in self.workers.items():
            supervisor.add(name, run)
        await supervisor.start()
        self.supervisor = supervisor

    async def stop_workers(self) -> None:
        """Stop workers after their current item."""
        if self.supervisor is not None:
            await self.supervisor.stop()
            self.supervisor = None

    async def close(self) -> None:
        """Stop workers and release the database."""
        await self.stop_workers()
        await self.engine.dispose()


def build_runtime(settings: ServiceSettings, consumers: Iterable[ConsumerSpec] = ()) -> Runtime:
    """Wire the engine, unit of work, outbox relay and inbox consumers from settings."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    uow_factory = UnitOfWorkFactory(engine)
    relay = OutboxRelay(
        settings.service_name,
        uow_factory.session_factory,
        lambda: make_producer(settings),
        batch_size=settings.relay_batch_size,
        poll_interval_s=settings.relay_poll_interval_s,
        leader_lock=RelayLeaderLock(engine, settings.service_name),
    )
    uow_factory.on_outbox_commit(relay.wake)
    runtime = Runtime(settings=settings, engine=engine, uow_factory=uow_factory, relay=relay)
    for spec in consumers:
        runtime.consumers[spec.name] = _build_consumer(settings, uow_factory, spec)
    return runtime


def _build_consumer(
    settings: ServiceSettings, uow_factory: UnitOfWorkFactory, spec: ConsumerSpec
) -> KafkaInboxConsumer:
    sink = DeadLetterSink(spec.name, uow_factory, producer=None)
    processor = InboxProcessor(
        settings.service_name,
        uow_factory,
        spec.handlers,
        dead_letter=sink,
        permanent_errors=spec.permanent_errors,
        batch_handlers=spec.batch_handlers,
        max_attempts=settings.consumer_max_attempts,
        backoff_initial_s=settings.consumer_backoff_initial_s,
        backoff_max_s=settings.consumer_backoff_max_s,
    )
    return KafkaInboxConsumer(
        spec.name,
        lambda: make_consumer(settings, spec.group_id, spec.topics),
        processor,
        dead_letter_sink=sink,
        producer_factory=lambda: make_producer(settings),
    )


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    """Health probes and metric scrapes get no spans: they would drown the traces that matter."""
    path = str(scope.get("path", ""))
    return path == "/metrics" or path.startswith("/health/")


def create_app(
    runtime: Runtime,
    *,
    title: str,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    domain_errors: Mapping[type[Exception], int] | None = None,
    extra_checks: dict[str, Check] | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
    clock: Clock | None = None,
    scrape_hooks: Sequence[ScrapeHook] = (),
) -> FastAPI:
    """The FastAPI app: routes, problem+json errors, idempotency, metrics and worker lifecycle."""
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_workers:
            await runtime.start_workers()
            app.state.workers = runtime.supervisor
        # Everything built so far (modules, app, settings) lives as long as the process:
        # leave it out of the cyclic collector's full passes, which otherwise walk it all
        # again and again while the consumer allocates rows by the hundred thousand.
        gc.freeze()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        openapi_tags=openapi_tags,
        telemetry={
            "tracing": settings.tracing_enabled,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "exclude": _untraced,
        },
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.engine = runtime.engine
    app.state.uow_factory = runtime.uow_factory
    app.state.workers = None
    app.state.clock = clock or SystemClock()
    install_error_handlers(app, domain_errors)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        service=settings.service_name,
        max_body_bytes=settings.max_request_bytes,
    )
    app.include_router(health_router(extra_checks, scrape_hooks))
    if settings.serve_api:
        for router in routers:
            app.include_router(router)
    install_openapi(app)
    return app
