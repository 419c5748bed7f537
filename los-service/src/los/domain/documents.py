"""Document rules: accepted types and sizes, and the gate before acceptance and payout."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Protocol

# Document types any product may ask for.
DOCUMENT_TYPES = frozenset(
    {
        "id_document",
        "proof_of_income",
        "bank_statement",
        "proof_of_address",
        "vehicle_invoice",
        "business_registration",
        "financial_statements",
        "invoice",
        "buyer_acknowledgement",
        "other",
    }
)
CONTENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})
# Magic numbers, so a renamed executable is not accepted as a PDF.
_SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


class DocumentStatus(StrEnum):
    """Where a document is in its review."""

    UPLOADED = "uploaded"
    VERIFIED = "verified"
    REJECTED = "rejected"


class _Doc(Protocol):
    @property
    def doc_type(self) -> str: ...

    @property
    def status(self) -> str: ...


def content_matches(content_type: str, content: bytes) -> bool:
    """Whether the bytes start with the signature of the declared content type."""
    return any(content.startswith(sig) for sig in _SIGNATURES.get(content_type, ()))


def missing_documents(required: Iterable[str], documents: Sequence[_Doc]) -> list[str]:
    """Required types without a verified document, in the order required."""
    verified = {d.doc_type for d in documents if d.status == DocumentStatus.VERIFIED.value}
    return [t for t in required if t not in verified]
