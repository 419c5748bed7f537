"""One settings object per service, built once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "lending-dev-secret-change-me-0123456789"

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Settings every service shares; each service subclasses it with its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "service"
    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///var/service.db"
    database_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = Field(
        default=False, description="On for Apache Kafka; Tansu fails at InitProducerId."
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=5, description="Tansu answers a waiting fetch only when this runs out."
    )
    kafka_client_id: str | None = None
    kafka_create_topics: bool = True
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    jwt_algorithm: Literal["HS256"] = "HS256"
    jwt_issuer: str = "lending-platform"
    run_workers: bool = Field(
        default=True, description="Run relay and consumers in the API process."
    )
    serve_api: bool = Field(
        default=True,
        description="Mount the /v1 routes; a worker process serves health and metrics.",
    )
    kafka_replication_factor: int = Field(default=1, description="For topics created at start-up.")
    relay_poll_interval_s: float = 0.5
    broker_watch_interval_s: float = Field(
        default=2.0,
        description="How often the broker-loss watch checks its marker topic; 0 turns it off.",
    )
    broker_loss_republish_window_s: float = Field(
        default=7 * 86_400,
        description="On broker loss, outbox events created within this window are published "
        "again (0: every event in the outbox).",
    )
    relay_batch_size: int = 500
    consumer_max_attempts: int = 5
    consumer_backoff_initial_s: float = 0.2
    consumer_backoff_max_s: float = 10.0
    idempotency_ttl_s: int = 86_400
    idempotency_in_flight_timeout_s: int = 60
    idempotency_in_flight_wait_s: float = Field(
        default=5.0,
        ge=0.0,
        le=60.0,
        description="How long a replay waits for the first request with its key to finish "
        "(then answers the stored response); still in flight after that is 409.",
    )
    max_request_bytes: int = 1_048_576
    tracing_enabled: bool = Field(
        default=True,
        description="Record OpenTelemetry spans (exported only if an OTLP endpoint is set).",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description=(
            "OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; without it the "
            "standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is used, and without those nothing "
            "is exported."
        ),
    )
    trace_sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of new traces recorded."
    )
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _refuse_development_secret(self) -> Self:
        secret = self.jwt_secret.get_secret_value()
        if self.environment == "production":
            if secret == DEVELOPMENT_SECRET:
                raise ValueError("jwt_secret must be set explicitly outside development")
            if len(secret) < 32:
                raise ValueError("jwt_secret must be at least 32 characters in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the embedded default database is in use."""
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The SQLite file path, if the database is a SQLite file."""
        if not self.is_sqlite:
            return None
        _, _, path = self.database_url.partition(":///")
        return Path(path) if path and path != ":memory:" else None
