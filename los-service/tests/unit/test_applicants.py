"""Applicant rules: age and masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from los.domain.applicants import age_on, check_age, mask, may_see_pii, normalise_national_id
from los.domain.errors import AgeOutOfRangeError


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(2000, 3, 10), date(2025, 3, 10), 25),
        (date(2000, 3, 11), date(2025, 3, 10), 24),
        (date(2000, 2, 29), date(2025, 2, 28), 24),
        (date(2000, 2, 29), date(2025, 3, 1), 25),
    ],
)
def test_age_on(born, today, age):
    assert age_on(born, today) == age


def test_age_limits():
    today = date(2025, 3, 10)
    assert check_age(date(2007, 3, 10), today) == 18
    assert check_age(date(1925, 3, 10), today) == 100
    for born in (date(2007, 3, 11), date(1924, 3, 10), date(2030, 1, 1)):
        with pytest.raises(AgeOutOfRangeError):
            check_age(born, today)


def test_mask():
    assert mask("123456789") == "*****6789"
    assert mask("1234") == "*****"
    assert mask("+15551234567") == "********4567"


@given(st.text(min_size=0, max_size=40))
def test_mask_never_reveals_more_than_four_characters(value):
    masked = mask(value)
    assert len(masked.lstrip("*")) <= 4
    assert len(masked) >= 5
    assert value.endswith(masked.lstrip("*"))


def test_pii_roles_and_normalisation():
    assert may_see_pii(frozenset({"underwriter"}))
    assert may_see_pii(frozenset({"admin"}))
    assert not may_see_pii(frozenset({"applicant_agent", "auditor"}))
    assert normalise_national_id("ab-12 3.4/5") == "AB12345"
