"""Delinquency buckets: how late a loan is, in the bands collections and reports use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    """A band of days past due, `up_to` inclusive (None: no upper bound)."""

    label: str
    up_to: int | None


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("current", 0),
    Bucket("1-30", 30),
    Bucket("31-60", 60),
    Bucket("61-90", 90),
    Bucket("90+", None),
)


def delinquency_bucket(days_past_due: int, buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> str:
    """The label of the first bucket whose upper bound holds the days past due."""
    if days_past_due < 0:
        raise ValueError(f"days past due cannot be negative, got {days_past_due}")
    for bucket in buckets:
        if bucket.up_to is None or days_past_due <= bucket.up_to:
            return bucket.label
    raise ValueError(f"no bucket holds {days_past_due} days past due; the last needs no bound")
