"""Seeded simulation of the LOS→LMS handoff: every seed must settle with nothing lost or doubled.

`LENDING_SIM_SEEDS=n` runs seeds 0..n-1 (2000 by default, in blocks of 250 that
`make test-sim` spreads over both cores); `LENDING_SIM_SEED=n` replays one seed and prints
its trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from los.products import load_catalog
from tests.sim.handoff import Databases, SeedReport, Templates, build_templates, run_seed
from tests.sim.transport import SimProducer

DEFAULT_SEEDS = 2000
# Seeds run in blocks, one test each, so `make test-sim` spreads them over both cores.
BLOCK = 250
REPORT_DIR = Path("var")


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return build_templates(tmp_path_factory.mktemp("sim-templates"))


@pytest.fixture
async def databases(templates: Templates, tmp_path: Path) -> AsyncIterator[Databases]:
    dbs = Databases(templates, tmp_path)
    yield dbs
    await dbs.close()


def _blocks() -> list[range]:
    one = os.environ.get("LENDING_SIM_SEED")
    if one:
        return [range(int(one), int(one) + 1)]
    count = int(os.environ.get("LENDING_SIM_SEEDS", DEFAULT_SEEDS))
    return [range(first, min(first + BLOCK, count)) for first in range(0, count, BLOCK)]


def _write_report(block: range, summary: dict[str, object]) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"sim-report-{block.start}-{block.stop - 1}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")


def _replay(seed: int) -> str:
    return f"LENDING_SIM_SEED={seed} .venv/bin/pytest -q -s tests/sim/test_handoff_sim.py -k every"


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: f"seeds-{b.start}-{b.stop - 1}")
async def test_every_seed_settles_with_nothing_lost_or_doubled(databases: Databases, block: range):
    catalog = load_catalog()
    seeds = list(block)
    failed: list[SeedReport] = []
    totals: Counter[str] = Counter()
    loans = 0
    # The services log every booking and retry; thousands of seeds would spend their time
    # formatting log lines nobody reads. Errors still show.
    logging.disable(logging.WARNING)
    try:
        reports = [await run_seed(seed, databases, catalog) for seed in seeds]
    finally:
        logging.disable(logging.NOTSET)
    for report in reports:
        totals.update(report.faults)
        loans += report.loans
        if report.problems:
            failed.append(report)
            if len(failed) >= 5:
                break
        if len(seeds) == 1:
            print("\n".join(report.trace))
    summary = {
        "seeds": f"{block.start}-{block.stop - 1}",
        "count": len(seeds),
        "loans": loans,
        "faults": dict(sorted(totals.items())),
    }
    print(json.dumps(summary, indent=1))
    if not failed and len(seeds) > 1:
        _write_report(block, summary)
    assert not failed, "\n".join(
        f"seed {r.seed} failed: {'; '.join(r.problems)}\n  replay: {_replay(r.seed)}"
        for r in failed
    )
    if len(seeds) >= 100:
        # The run must have met the faults it claims to survive, or it proved nothing.
        for fault in (
            "dropped",
            "acks_lost",
            "duplicated",
            "delayed",
            "reordered",
            "lms.consumer_crash",
            "los.consumer_crash",
            "lms.crash_mid_transaction",
            "lms.transient_db_error",
            "lms.duplicates_skipped",
            "los.duplicates_skipped",
        ):
            assert totals[fault] > 0, f"no seed exercised {fault}"


async def test_a_seed_replays_identically(databases: Databases):
    catalog = load_catalog()
    first = await run_seed(11, databases, catalog)
    second = await run_seed(11, databases, catalog)
    assert first.problems == second.problems == []
    assert first.trace == second.trace
    assert first.faults == second.faults
    assert len(first.trace) > 10


async def test_the_checks_catch_a_relay_that_trusts_failed_sends(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
):
    """A broken transport acknowledgement (a lost send reported as sent) must fail seeds."""
    original = SimProducer.send

    async def send_ignoring_failures(self: SimProducer, *args: Any, **kwargs: Any) -> Any:
        future = await original(self, *args, **kwargs)
        if future.exception() is not None:
            healed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            healed.set_result(None)
            return healed
        return future

    monkeypatch.setattr(SimProducer, "send", send_ignoring_failures)
    catalog = load_catalog()
    logging.disable(logging.WARNING)
    try:
        reports = [await run_seed(seed, databases, catalog) for seed in range(20)]
    finally:
        logging.disable(logging.NOTSET)
    lost = [r for r in reports if any("booked" in p or "applied" in p for p in r.problems)]
    assert lost, "20 seeds with dropped sends and no seed noticed a lost loan"
