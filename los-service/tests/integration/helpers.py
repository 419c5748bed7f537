"""Request bodies and journey steps shared by the API tests."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import httpx

AGENT_SUB = "agent-alice"
_SEQ = itertools.count(1)


def national_id(suffix: str = "07") -> str:
    """A fresh, valid US SSN whose last two digits pick the sandbox outcome (07: clean)."""
    n = next(_SEQ)
    return f"{100 + n % 500:03d}-{10 + (n // 500) % 89:02d}-{(n * 37) % 100:02d}{suffix}"


def birth_date() -> str:
    """A distinct date of birth per applicant, so the fuzzy duplicate check stays quiet."""
    return (date(1985, 6, 15) - timedelta(days=next(_SEQ) % 4000)).isoformat()


def applicant_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": birth_date(),
        "national_id": national_id(),
        "email": "ada@example.com",
        "phone": "+15551234567",
        "address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
        "employment_status": "employed",
        "monthly_income": "6000.00",
    }
    body.update(overrides)
    return body


def application_body(applicant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "applicant_id": applicant_id,
        "product_code": "PL-STD",
        "requested_amount": "10000.00",
        "currency": "USD",
        "term": 36,
        "purpose": "home improvement",
        "monthly_income": "6000.00",
        "monthly_obligations": "500.00",
    }
    body.update(overrides)
    return body


async def create_applicant(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> str:
    r = await client.post("/v1/applicants", json=applicant_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def create_application(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    applicant: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    applicant_id = await create_applicant(client, headers, **(applicant or {}))
    r = await client.post(
        "/v1/applications", json=application_body(applicant_id, **overrides), headers=headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def append_to_trail_elsewhere(app: Any, application_id: str, at: datetime) -> None:
    """Another transaction appends to the application's audit stream without touching the
    application row, as a document upload does."""
    from los.service.audit import application_stream, record

    async with app.state.uow_factory() as other:
        await record(
            other.session,
            application_stream(application_id),
            actor="uploader",
            action="document_uploaded",
            at=at,
            after={"doc_type": "proof_of_income"},
        )
        await other.commit()
