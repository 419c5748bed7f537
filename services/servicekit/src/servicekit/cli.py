"""Commands both services share: serve, migrate, token, outbox and dead-letter tools."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from servicekit.auth import ROLES, issue_token
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.inbox import list_dead_letters, redrive_dead_letters
from servicekit.kafka import ensure_topics, make_producer
from servicekit.migrations import upgrade
from servicekit.outbox import outbox_status, republish_from
from servicekit.settings import ServiceSettings


def run_cli(
    argv: Sequence[str] | None,
    *,
    prog: str,
    settings_factory: Callable[[], ServiceSettings],
    app_path: str,
    migrations: str,
) -> int:
    """Parse and run one service command."""
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (and its workers unless --no-workers)")
    serve.add_argument("--no-workers", action="store_true")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")
    sub.add_parser("migrate", help="upgrade the database to the latest schema")
    sub.add_parser(
        "worker", help="run the relay and consumers; HTTP serves health and metrics only"
    )
    sub.add_parser("create-topics", help="create every registered topic and its dead-letter topic")
    token = sub.add_parser("token", help="print a bearer token for local use")
    token.add_argument("--role", action="append", required=True, choices=ROLES)
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--ttl", type=int, default=8 * 3600)
    outbox = sub.add_parser("outbox", help="outbox status and re-publishing from a watermark")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_sub.add_parser("status")
    republish = outbox_sub.add_parser("republish", help="mark rows pending again from a watermark")
    republish.add_argument("--from-id", type=int)
    republish.add_argument("--since", type=datetime.fromisoformat)
    dlq = sub.add_parser("dead-letters", help="list or re-drive dead letters")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list")
    dlq_list.add_argument("--status", default="pending")
    redrive = dlq_sub.add_parser("redrive")
    redrive.add_argument("--id", type=int, action="append")
    args = parser.parse_args(argv)
    settings = settings_factory()

    if args.command == "token":
        print(
            issue_token(
                settings.jwt_secret.get_secret_value(),
                args.sub,
                args.role,
                ttl_s=args.ttl,
                issuer=settings.jwt_issuer,
            )
        )
        return 0
    if args.command == "migrate":
        upgrade(migrations, settings.database_url)
        print(f"{prog}: database at head")
        return 0
    if args.command == "serve":
        if args.migrate:
            upgrade(migrations, settings.database_url)
        return _serve(settings, app_path, workers=not args.no_workers)
    if args.command == "worker":
        return _serve(settings, app_path, workers=True, api=False)
    if args.command == "create-topics":
        created = asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                replication_factor=settings.kafka_replication_factor,
            )
        )
        print(json.dumps({"created": created}))
        return 0
    if args.command == "outbox":
        return asyncio.run(_outbox(settings, args))
    if args.command == "dead-letters":
        return asyncio.run(_dead_letters(settings, args))
    parser.error(f"unknown command {args.command}")


def _serve(settings: ServiceSettings, app_path: str, *, workers: bool, api: bool = True) -> int:
    """Run uvicorn on the app factory; the flags only ever switch things off or to worker mode."""
    import os

    import uvicorn

    prefix = settings.model_config.get("env_prefix", "")
    if not workers:
        os.environ[f"{prefix}RUN_WORKERS"] = "false"
    if not api:
        os.environ[f"{prefix}RUN_WORKERS"] = "true"
        os.environ[f"{prefix}SERVE_API"] = "false"
    uvicorn.run(
        app_path,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


async def _outbox(settings: ServiceSettings, args: Any) -> int:
    engine = create_engine(settings.database_url)
    factory = UnitOfWorkFactory(engine)
    try:
        if args.outbox_command == "status":
            print(json.dumps(await outbox_status(factory.session_factory)))
        else:
            count = await republish_from(
                factory.session_factory, from_id=args.from_id, since=args.since
            )
            print(json.dumps({"marked_pending": count}))
    finally:
        await engine.dispose()
    return 0


async def _dead_letters(settings: ServiceSettings, args: Any) -> int:
    engine = create_engine(settings.database_url)
    factory = UnitOfWorkFactory(engine)
    try:
        if args.dlq_command == "list":
            rows = await list_dead_letters(factory, None if args.status == "all" else args.status)
            print(json.dumps(rows, indent=2))
        else:
            producer = make_producer(settings)
            await producer.start()
            try:
                count = await redrive_dead_letters(factory, producer, args.id)
            finally:
                await producer.stop()
            print(json.dumps({"redriven": count}))
    finally:
        await engine.dispose()
    return 0
