"""The benchmarks that run the services in real processes, selected by name."""

from __future__ import annotations

from typing import Any


def service_benchmarks(names: str, *, quick: bool = False) -> list[dict[str, Any]]:
    """Run the named service benchmarks (handoff, los_api, scaleout) in that order."""
    wanted = {n.strip() for n in names.split(",") if n.strip() and n.strip() != "none"}
    unknown = wanted - {"handoff", "los_api", "scaleout"}
    if unknown:
        raise SystemExit(f"unknown service benchmarks: {', '.join(sorted(unknown))}")
    results: list[dict[str, Any]] = []
    if "handoff" in wanted:
        from tests.bench.handoff_latency import bench_handoff_latency

        results += bench_handoff_latency(quick=quick)
    if "los_api" in wanted:
        from tests.bench.los_api import bench_los_api

        results += bench_los_api(quick=quick)
    if "scaleout" in wanted:
        from tests.bench.scaleout import bench_scaleout

        results.append(bench_scaleout(quick=quick))
    return results
