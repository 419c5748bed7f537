"""LOS-specific Prometheus gauges, on servicekit's registry so /metrics serves them."""

from __future__ import annotations

from prometheus_client import Gauge

from servicekit.metrics import REGISTRY

HANDOFF_UNBOOKED = Gauge(
    "los_handoff_unbooked",
    "Disbursed loans the LMS has not booked after the alert threshold.",
    registry=REGISTRY,
)
HANDOFF_MISMATCHED = Gauge(
    "los_handoff_mismatched",
    "Booked loans whose servicing schedule does not match the offer.",
    registry=REGISTRY,
)
