"""`make bench`: benchmarks, each beside a baseline measured in the same run, medians of repeats.

Results go to <out>/results.json (machine-readable) and are printed as a table. The
booking benchmark needs PostgreSQL: LENDING_TEST_POSTGRES_URL, or the local default.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy_financial as npf

from loanmath import ScheduleTerms, build_schedule


def _time_per_call(func: Callable[[], object], *, repeats: int, number: int) -> float:
    """Median seconds per call over `repeats` runs of `number` calls each."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - started) / number)
    return statistics.median(samples)


def bench_schedule_360(repeats: int) -> dict[str, Any]:
    """A 360-installment monthly annuity: loanmath (exact, rounded) against numpy-financial (floats)."""
    terms = ScheduleTerms(
        principal=Decimal("250000.00"),
        currency="USD",
        annual_rate=Decimal("0.0650"),
        term=360,
        disbursement_date=date(2026, 1, 15),
        first_due_date=date(2026, 2, 15),
    )
    rate, periods = 0.065 / 12, np.arange(1, 361)

    def baseline() -> object:
        return npf.ipmt(rate, periods, 360, -250000.0), npf.ppmt(rate, periods, 360, -250000.0)

    ours = _time_per_call(lambda: build_schedule(terms), repeats=repeats, number=20)
    # Second measurement: the schedule with every Installment row built (rows are lazy).
    materialised = _time_per_call(
        lambda: build_schedule(terms).installments, repeats=repeats, number=20
    )
    base = _time_per_call(baseline, repeats=repeats, number=20)
    return {
        "name": "schedule_360_annuity",
        "unit": "microseconds per schedule",
        "value": round(ours * 1e6, 1),
        "materialised_value": round(materialised * 1e6, 1),
        "materialised_meaning": "same schedule with all 360 Installment rows built",
        "baseline": "numpy_financial ipmt+ppmt over 360 periods (float64, unrounded)",
        "baseline_value": round(base * 1e6, 1),
        "ratio_vs_baseline": round(base / ours, 3),
        "ratio_meaning": "baseline time / our time (above 1 means faster than the baseline)",
        "target": "under 150 us and faster than the baseline",
    }


def main() -> int:
    """Run every benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="small counts for the service benches")
    parser.add_argument(
        "--services",
        default="handoff,los_api,scaleout",
        help="service benchmarks to run, comma-separated (none for none)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=50_000,
        help="LoanDisbursed events for the handoff throughput benchmark (0 to skip)",
    )
    parser.add_argument(
        "--cob-loans",
        type=int,
        default=100_000,
        help="loans for the close-of-business benchmark (0 to skip)",
    )
    args = parser.parse_args()
    from tests.bench.booking import bench_booking
    from tests.bench.sqlite_writers import bench_sqlite_writers

    results = [
        bench_schedule_360(args.repeats),
        bench_booking(max(3, args.repeats // 5)),
        bench_sqlite_writers(),
    ]
    from tests.bench.suite import service_benchmarks

    results += service_benchmarks(args.services, quick=args.quick)
    if args.backlog:
        from tests.bench.handoff_throughput import bench_handoff_throughput

        backlog = min(args.backlog, 5_000) if args.quick else args.backlog
        results.append(bench_handoff_throughput(repeats=1 if args.quick else 3, backlog=backlog))
    if args.cob_loans:
        from tests.bench.cob import bench_cob

        results.append(bench_cob(min(args.cob_loans, 10_000) if args.quick else args.cob_loans))
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": _cpus(),
        },
        "repeats": args.repeats,
        "results": results,
    }
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    for item in results:
        print(
            f"{item['name']:28} {item['value']:>10} {item['unit']}  baseline {item['baseline_value']}"
            f"  ratio {item['ratio_vs_baseline']} ({item['ratio_meaning']})"
        )
        if "materialised_value" in item:
            print(f"{'':28} {item['materialised_value']:>10} with installments materialised")
    print(f"written to {args.out / 'results.json'}")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
