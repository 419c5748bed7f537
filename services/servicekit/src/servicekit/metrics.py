"""Prometheus metrics shared by both services, labelled by service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route and status.",
    ["service", "method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route.",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total",
    "Events published by the relay.",
    ["service", "topic"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "outbox_pending", "Outbox rows not yet published.", ["service"], registry=REGISTRY
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox row.",
    ["service"],
    registry=REGISTRY,
)
RELAY_ERRORS = Counter(
    "outbox_relay_errors_total", "Relay publish failures.", ["service"], registry=REGISTRY
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events handled by consumers, by outcome (processed, duplicate, dead_lettered).",
    ["service", "topic", "event_type", "outcome"],
    registry=REGISTRY,
)
EVENTS_RETRIED = Counter(
    "events_retried_total",
    "Consumer retries after a failure.",
    ["service", "topic"],
    registry=REGISTRY,
)
HANDOFF_LAG = Histogram(
    "event_handoff_lag_seconds",
    "From an event's time (its producer's commit) to its application committed here; on the "
    "LMS, event_type lending.LoanDisbursed.v1 is the loan handoff (disbursed to booked).",
    ["service", "topic", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Records behind the end of each partition.",
    ["service", "topic", "partition"],
    registry=REGISTRY,
)
BROKER_LOSSES = Counter(
    "broker_losses",
    "Times the broker was found to have lost its topics (the marker topic vanished).",
    ["service"],
    registry=REGISTRY,
)
BROKER_LOSS_REPUBLISHED = Counter(
    "broker_loss_republished_events",
    "Outbox events marked pending again to heal a broker that lost its data.",
    ["service"],
    registry=REGISTRY,
)
WORKER_UP = Gauge(
    "worker_up", "1 while a background worker runs.", ["service", "worker"], registry=REGISTRY
)
