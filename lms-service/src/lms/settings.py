"""LMS settings: built once at start-up from `LMS_*` environment variables and passed down."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class LmsSettings(ServiceSettings):
    """The loan management service's settings, with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="LMS_", extra="ignore", frozen=True)

    service_name: str = "lms"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///var/lms.db"
