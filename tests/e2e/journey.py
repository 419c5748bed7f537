"""One application from intake to a booked loan, over the public REST APIs of both services.

Used by the end-to-end tests and by `make demo`; it checks nothing the APIs do not show.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from servicekit.auth import issue_token


@dataclass
class Tokens:
    """Bearer tokens for the people in the journey (four eyes: different subjects)."""

    agent: str
    underwriter: str
    manager: str
    servicing: str

    @classmethod
    def issue(cls, secret: str) -> Tokens:
        """Sign one token per role with the services' shared secret."""
        return cls(
            agent=issue_token(secret, "agent-ann", ["applicant_agent"]),
            underwriter=issue_token(secret, "uw-bob", ["underwriter"]),
            manager=issue_token(secret, "cm-cleo", ["credit_manager"]),
            servicing=issue_token(secret, "svc-dan", ["servicing_agent"]),
        )


def _h(token: str, idempotency_key: bool = True) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if idempotency_key:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers


def _ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in expected:
        raise AssertionError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


APPLICANT = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "date_of_birth": "1985-12-10",
    "email": "ada@example.org",
    "phone": "+14155550123",
    "address": {
        "line1": "1 Analytical St",
        "city": "London",
        "postal_code": "N1 9GU",
        "country": "GB",
    },
    "employment_status": "employed",
    "monthly_income": "6500.00",
}


def run_journey(
    los: httpx.Client,
    lms: httpx.Client,
    tokens: Tokens,
    *,
    amount: str = "12000.00",
    term: int = 24,
    monthly_obligations: str = "300.00",
    booked_timeout_s: float = 30.0,
    national_id: str | None = None,
    applicant: dict[str, Any] | None = None,
    refinances_loan_id: str | None = None,
) -> dict[str, Any]:
    """Walk applicant → application → decision → offer → acceptance → disbursement → booked loan.

    Given an `applicant` (from an earlier journey) it applies for them again; given
    `refinances_loan_id` the new loan is a renewal or top-up that pays that loan off.
    """
    if applicant is None:
        applicant = _ok(
            los.post(
                "/v1/applicants",
                # A GB National Insurance number (the applicant's address is in GB).
                json={
                    **APPLICANT,
                    "national_id": national_id or f"AB{uuid.uuid4().int % 10**6:06d}C",
                },
                headers=_h(tokens.agent),
            ),
            201,
        )
    body: dict[str, Any] = {
        "applicant_id": applicant["id"],
        "product_code": "PL-STD",
        "requested_amount": amount,
        "currency": "USD",
        "term": term,
        "purpose": "home improvement",
        "monthly_income": APPLICANT["monthly_income"],
        "monthly_obligations": monthly_obligations,
    }
    if refinances_loan_id is not None:
        body["refinances_loan_id"] = refinances_loan_id
    application = _ok(los.post("/v1/applications", json=body, headers=_h(tokens.agent)), 201)
    app_id = application["id"]
    decided = _ok(los.post(f"/v1/applications/{app_id}/submit", headers=_h(tokens.agent)), 200)
    if decided["status"] == "referred":
        decided = _ok(
            los.post(
                f"/v1/applications/{app_id}/reviews",
                json={"outcome": "approve", "comment": "income verified by phone"},
                headers=_h(tokens.underwriter),
            ),
            200,
            201,
        )
    if decided["status"] != "approved":
        raise AssertionError(f"application not approved: {decided}")
    offer = _ok(los.get(f"/v1/applications/{app_id}/offer", headers=_h(tokens.agent, False)), 200)
    _ok(los.post(f"/v1/applications/{app_id}/offer/accept", headers=_h(tokens.agent)), 200)
    disbursed = _ok(
        los.post(f"/v1/applications/{app_id}/disburse", headers=_h(tokens.manager)), 200
    )
    loan_id = disbursed["loan_id"]

    started = time.monotonic()
    current: dict[str, Any] = {}
    while time.monotonic() - started < booked_timeout_s:
        current = _ok(los.get(f"/v1/applications/{app_id}", headers=_h(tokens.manager, False)), 200)
        if (current.get("handoff") or {}).get("booked_at"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"loan {loan_id} not booked within {booked_timeout_s}s: {current}")
    handoff_s = time.monotonic() - started
    loan = _ok(lms.get(f"/v1/loans/{loan_id}", headers=_h(tokens.servicing, False)), 200)
    schedule = _ok(
        lms.get(f"/v1/loans/{loan_id}/schedule", headers=_h(tokens.servicing, False)), 200
    )
    return {
        "applicant": applicant,
        "application": current,
        "decision": decided.get("decision"),
        "offer": offer,
        "loan_id": loan_id,
        "loan": loan,
        "schedule": schedule,
        "handoff_seconds": handoff_s,
    }


def principal_sum(schedule: dict[str, Any]) -> Decimal:
    """Sum of the schedule's principal parts."""
    return sum((Decimal(i["principal"]) for i in schedule["installments"]), Decimal(0))
