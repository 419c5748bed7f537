"""Structured logs: one JSON object a line, with the correlation id, and PII masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from servicekit.context import get_correlation_id

_PII_KEYS = re.compile(
    r"(national_id|date_of_birth|dob|phone|email|ssn|passport|password|secret|token|authorization)",
    re.IGNORECASE,
)


def mask_value(value: str) -> str:
    """Keep the last two characters of a sensitive value, hide the rest."""
    if len(value) <= 2:
        return "**"
    return "*" * (len(value) - 2) + value[-2:]


def mask_pii(data: Any) -> Any:
    """Mask values under sensitive keys, recursively."""
    if isinstance(data, dict):
        return {
            k: (mask_value(str(v)) if _PII_KEYS.search(str(k)) and v is not None else mask_pii(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_pii(v) for v in data]
    return data


_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        correlation_id = get_correlation_id()
        if correlation_id:
            payload["correlation_id"] = correlation_id
        extras = {k: v for k, v in vars(record).items() if k not in _RESERVED}
        if extras:
            payload.update(mask_pii(extras))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a developer's terminal."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Install one stderr handler for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json_lines else TextFormatter(service))
    handler.lending_platform = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    # Replace only a handler installed here before, so test runners keep their own.
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "lending_platform", False)]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
