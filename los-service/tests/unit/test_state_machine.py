"""The application state machine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from los.domain.applications import (
    TERMINAL,
    TRANSITIONS,
    ApplicationStatus,
    can_transition,
    transition,
)
from los.domain.errors import IllegalTransitionError

S = ApplicationStatus

LEGAL = [
    (S.DRAFT, S.SUBMITTED),
    (S.SUBMITTED, S.APPROVED),
    (S.SUBMITTED, S.REFERRED),
    (S.SUBMITTED, S.DECLINED),
    (S.REFERRED, S.APPROVED),
    (S.REFERRED, S.DECLINED),
    (S.APPROVED, S.ACCEPTED),
    (S.APPROVED, S.EXPIRED),
    (S.ACCEPTED, S.DISBURSED),
    (S.DISBURSED, S.BOOKED),
    (S.DRAFT, S.WITHDRAWN),
    (S.APPROVED, S.WITHDRAWN),
    (S.REFERRED, S.WITHDRAWN),
]


def test_the_table_is_exactly_the_specified_moves():
    assert {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt} == set(LEGAL)
    assert set(TRANSITIONS) == set(S)
    assert {S.DECLINED, S.EXPIRED, S.BOOKED, S.WITHDRAWN} == TERMINAL


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_moves(current, target):
    assert transition(current.value, target) is target


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_every_other_move_is_refused_naming_both_states(current, target):
    if (current, target) in LEGAL:
        assert can_transition(current, target)
        return
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransitionError) as info:
        transition(current.value, target)
    assert info.value.code == "illegal_transition"
    assert (info.value.current, info.value.target) == (current.value, target.value)
    assert current.value in str(info.value)
    assert target.value in str(info.value)


def test_booked_is_reachable_only_through_disbursement():
    assert [a for a, nxt in TRANSITIONS.items() if S.BOOKED in nxt] == [S.DISBURSED]
    assert [a for a, nxt in TRANSITIONS.items() if S.DISBURSED in nxt] == [S.ACCEPTED]
