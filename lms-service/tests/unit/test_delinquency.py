"""Delinquency buckets from days past due."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.domain.delinquency import DEFAULT_BUCKETS, Bucket, delinquency_bucket


@pytest.mark.parametrize(
    ("days", "label"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (10_000, "90+"),
    ],
)
def test_default_bucket_boundaries(days, label):
    assert delinquency_bucket(days) == label


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="negative"):
        delinquency_bucket(-1)


def test_custom_buckets():
    buckets = (Bucket("ok", 5), Bucket("late", None))
    assert delinquency_bucket(5, buckets) == "ok"
    assert delinquency_bucket(6, buckets) == "late"


def test_buckets_without_an_open_end_refuse_what_they_cannot_hold():
    with pytest.raises(ValueError, match="no bucket"):
        delinquency_bucket(11, (Bucket("ok", 10),))


ORDER = [b.label for b in DEFAULT_BUCKETS]


@given(st.integers(min_value=0, max_value=100_000), st.integers(min_value=0, max_value=100_000))
def test_later_never_means_a_better_bucket(a, b):
    low, high = sorted((a, b))
    assert ORDER.index(delinquency_bucket(low)) <= ORDER.index(delinquency_bucket(high))
