"""The LOS settings, built once at start-up from `LOS_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    document_dir: Path = Field(
        default=Path("var/los-documents"), description="Local directory of document content."
    )
    document_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1, description="Upload limit.")
    # Request bodies (servicekit's limit) must fit a document plus the multipart envelope.
    max_request_bytes: int = 6 * 1024 * 1024
    kyc_provider: Literal["sandbox", "http"] = "sandbox"
    kyc_url: str = "http://127.0.0.1:9101"
    bureau_provider: Literal["sandbox", "http"] = "sandbox"
    bureau_url: str = "http://127.0.0.1:9102"
    provider_timeout_s: float = Field(default=5.0, gt=0)
    provider_retries: int = Field(default=2, ge=0, le=5)
    provider_backoff_s: float = Field(default=0.2, ge=0)
    provider_breaker_threshold: int = Field(default=5, ge=1)
    provider_breaker_reset_s: float = Field(default=30.0, gt=0)
