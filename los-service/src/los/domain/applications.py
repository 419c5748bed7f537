"""The application state machine: which moves are legal, decided here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from los.domain.errors import IllegalTransitionError


class ApplicationStatus(StrEnum):
    """Where an application is in its life; values are stable for storage and the API."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REFERRED = "referred"
    DECLINED = "declined"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    DISBURSED = "disbursed"
    BOOKED = "booked"
    WITHDRAWN = "withdrawn"


S = ApplicationStatus

TRANSITIONS: Mapping[ApplicationStatus, frozenset[ApplicationStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.APPROVED, S.REFERRED, S.DECLINED}),
    S.REFERRED: frozenset({S.APPROVED, S.DECLINED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.ACCEPTED, S.EXPIRED, S.WITHDRAWN}),
    S.ACCEPTED: frozenset({S.DISBURSED}),
    S.DISBURSED: frozenset({S.BOOKED}),
    S.DECLINED: frozenset(),
    S.EXPIRED: frozenset(),
    S.BOOKED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

TERMINAL: frozenset[ApplicationStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def can_transition(current: ApplicationStatus, target: ApplicationStatus) -> bool:
    """Whether the state machine allows `current` -> `target`."""
    return target in TRANSITIONS[current]


def transition(current: str, target: ApplicationStatus) -> ApplicationStatus:
    """Return `target` if the move is legal, else raise IllegalTransitionError naming both."""
    state = ApplicationStatus(current)
    if not can_transition(state, target):
        raise IllegalTransitionError(state.value, target.value)
    return target
