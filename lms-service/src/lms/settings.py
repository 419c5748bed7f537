"""LMS settings: built once at start-up from `LMS_*` environment variables and passed down."""

from __future__ import annotations

from pydantic import Field
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
