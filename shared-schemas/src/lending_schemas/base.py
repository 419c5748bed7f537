"""Common base for event payloads so every model shares versioning and tolerance rules."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["ContractModel", "EventModel", "parse_version"]

_VERSION_RE = re.compile(r"([1-9][0-9]*)\.(0|[1-9][0-9]*)", re.ASCII)


def parse_version(version: str) -> tuple[int, int]:
    """Split ``"major.minor"`` so versions sort numerically (``1.10`` after ``1.9``)."""
    match = _VERSION_RE.fullmatch(version)
    if match is None:
        raise ValueError(f"version {version!r} is not 'major.minor'")
    return int(match[1]), int(match[2])


class ContractModel(BaseModel):
    """Frozen, extra-tolerant base so old readers accept payloads with added fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class EventModel(ContractModel):
    """Payload of one event type at one ``major.minor`` contract version."""

    event_type: ClassVar[str]
    version: ClassVar[str]
    #: Payload field that is the CloudEvents subject and the Kafka key (per-aggregate order).
    subject_field: ClassVar[str] = "loan_id"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Fail at import time if a concrete model declares a malformed version."""
        super().__pydantic_init_subclass__(**kwargs)
        if "version" in cls.__dict__:
            parse_version(cls.version)

    @classmethod
    def major(cls) -> int:
        """Major version, which selects topic, registry entry and CloudEvents type."""
        return parse_version(cls.version)[0]

    @classmethod
    def minor(cls) -> int:
        """Minor version, which only ever adds optional fields."""
        return parse_version(cls.version)[1]

    @classmethod
    def dataschema(cls) -> str:
        """URN written to ``ce_dataschema`` so readers know the exact producer version."""
        return f"urn:lending:schema:{cls.event_type}:{cls.version}"

    @classmethod
    def ce_type(cls) -> str:
        """CloudEvents ``type``; carries only the major so minors stay interchangeable."""
        return f"lending.{cls.event_type}.v{cls.major()}"
