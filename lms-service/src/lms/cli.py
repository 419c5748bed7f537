"""The `lms` command: serve, migrate, worker, token, outbox and dead-letter tools, and
`lms cob run` for close of business from a scheduler."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from datetime import date

from lms.settings import LmsSettings
from servicekit.cli import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run one LMS command."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["cob"]:
        return cob_main(args[1:])
    return run_cli(
        args,
        prog="lms",
        settings_factory=LmsSettings,
        app_path="lms.bootstrap:app_factory",
        migrations="lms:migrations",
    )


def cob_main(argv: Sequence[str]) -> int:
    """`lms cob run --business-date D [--partition i/n] [--chunk-size N] [--concurrency N]`.

    Closes the date (skipped dates first unless partitioned) and prints the run as JSON.
    Exit status 0 when the run completed (or this worker's part of it is done), 2 on a
    refused date, 1 on any other error.
    """
    from lms.service.cob import Partition

    parser = argparse.ArgumentParser(prog="lms cob", description="close of business")
    sub = parser.add_subparsers(dest="cob_command", required=True)
    run = sub.add_parser("run", help="close a business date")
    run.add_argument("--business-date", required=True, type=date.fromisoformat)
    run.add_argument(
        "--partition",
        type=Partition.parse,
        default=Partition(),
        help="i/n: this worker takes the chunks numbered i modulo n (0-based)",
    )
    run.add_argument(
        "--chunk-size", type=int, default=None, help="loans per chunk (LMS_COB_CHUNK_SIZE)"
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="chunks run at once by this worker (LMS_COB_CONCURRENCY)",
    )
    run.add_argument("--requested-by", default="scheduler")
    args = parser.parse_args(argv)
    return asyncio.run(
        _cob_run(
            args.business_date,
            args.partition,
            args.chunk_size,
            args.concurrency,
            args.requested_by,
        )
    )


async def _cob_run(
    business_date: date,
    partition: object,
    chunk_size: int | None,
    concurrency: int | None,
    who: str,
) -> int:
    from lms.domain.errors import LmsError
    from lms.service.cob import Partition, close_business
    from servicekit.clock import SystemClock
    from servicekit.db import UnitOfWorkFactory, create_engine

    assert isinstance(partition, Partition)
    settings = LmsSettings()
    engine = create_engine(settings.database_url)
    clock = SystemClock()
    try:
        outcome = await close_business(
            UnitOfWorkFactory(engine),
            business_date,
            requested_by=who,
            today=clock.today(),
            now=clock.now,
            chunk_size=chunk_size or settings.cob_chunk_size,
            partition=partition,
            concurrency=concurrency or settings.cob_concurrency,
        )
    except LmsError as exc:
        print(json.dumps({"error": exc.code, "detail": str(exc)}))
        return 2
    finally:
        await engine.dispose()
    run = outcome.run
    print(
        json.dumps(
            {
                "business_date": run.business_date.isoformat(),
                "status": run.status,
                "chunks_done": run.chunks_done,
                "chunks_total": run.chunks_total,
                "loans_processed": run.loans_processed,
                "dates_closed": [d.isoformat() for d in outcome.dates_closed],
                "timings": run.timings,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
