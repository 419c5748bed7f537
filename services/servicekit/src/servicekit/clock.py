"""Time is passed in: the system clock in production, a fixed one in tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where use cases get the current time from."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Current UTC date."""
        return self.now().date()


class FixedClock:
    """A clock tests set and move by hand."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        """The frozen time."""
        return self._at

    def today(self) -> date:
        """The frozen date."""
        return self._at.date()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._at += delta

    def set(self, at: datetime) -> None:
        """Jump to a given time."""
        self._at = at
