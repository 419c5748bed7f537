"""The LOS settings, built once at start-up from `LOS_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class LosSettings(ServiceSettings):
    """Loan origination settings: servicekit's shared ones plus offer and handoff rules."""

    model_config = SettingsConfigDict(env_prefix="LOS_", extra="ignore", frozen=True)

    service_name: str = "los"
    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///var/los.db"
    offer_validity_days: int = Field(default=14, ge=1, description="Days an offer stays open.")
    handoff_alert_after_s: int = Field(
        default=300, ge=0, description="A disbursed loan unbooked for longer than this is alerted."
    )
    catalog_path: Path | None = Field(
        default=None, description="Override for the product catalog shipped in the package."
    )
