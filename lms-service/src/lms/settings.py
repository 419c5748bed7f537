"""LMS settings: built once at start-up from `LMS_*` environment variables and passed down."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class LmsSettings(ServiceSettings):
    """The loan management service's settings, with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="LMS_", extra="ignore", frozen=True)

    service_name: str = "lms"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///var/lms.db"
    cob_chunk_size: int = Field(default=5000, ge=1)
    """Active loans per close-of-business chunk (one transaction each)."""
    cob_concurrency: int = Field(default=2, ge=1, le=64)
    """Chunks of a business date run at once, each on its own connection (PostgreSQL;
    SQLite runs one at a time). Keep it within the database pool."""
    cob_schedule_enabled: bool = False
    """Close each business date from the worker once its cut-off has passed (the same run
    as ``POST /v1/cob/runs``, skipped dates caught up first)."""
    cob_cutoff: time = time(0, 30)
    """Local time (in ``cob_timezone``) from which the previous business date is closed."""
    cob_timezone: str = "UTC"
    """The lender's IANA time zone, where business dates begin and end."""
    cob_schedule_poll_s: float = Field(default=60.0, gt=0)
    """How often the scheduler checks whether a business date is due."""

    @field_validator("cob_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC)") from None
        return value
