"""Renewals and top-ups in the LOS: an application names the borrower's existing loan in
`refinances_loan_id`; the LOS checks what it can (a loan it disbursed, to the same applicant,
not already paid off by another disbursement) and puts it on LoanDisbursed (1.2) as
`settles_loan_id`. What the old loan still owes is the LMS's to settle at booking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from lending_schemas import LoanDisbursedV1, from_kafka, parse_event
from servicekit.tables import OUTBOX
from tests.integration.helpers import AGENT_SUB, application_body, create_applicant

pytestmark = pytest.mark.integration


async def _disbursed_events(app) -> list[tuple[dict[str, str], LoanDisbursedV1]]:
    async with app.state.uow_factory() as uow:
        rows = (
            (
                await uow.session.execute(
                    select(OUTBOX)
                    .where(OUTBOX.c.event_type == "lending.LoanDisbursed.v1")
                    .order_by(OUTBOX.c.id)
                )
            )
            .mappings()
            .all()
        )
    out = []
    for row in rows:
        headers = [(k, v.encode()) for k, v in row["headers"]]
        event = parse_event(from_kafka(row["payload"].encode(), headers))
        assert isinstance(event, LoanDisbursedV1)
        out.append((dict(row["headers"]), event))
    return out


async def _apply(client, agent, applicant_id: str, **overrides: Any):
    return await client.post(
        "/v1/applications", json=application_body(applicant_id, **overrides), headers=agent
    )


async def _to_disbursed(client, auth, clock, app_id: str) -> str:
    agent = auth("applicant_agent", sub=AGENT_SUB)
    r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved", r.json()
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text
    clock.advance(timedelta(days=1))
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("credit_manager"))
    assert r.status_code == 200, r.text
    return str(r.json()["loan_id"])


@pytest.fixture
async def first_loan(client, auth, clock) -> tuple[str, str]:
    """An applicant with one disbursed loan: (applicant id, loan id)."""
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    r = await _apply(client, agent, applicant_id)
    assert r.status_code == 201, r.text
    loan_id = await _to_disbursed(client, auth, clock, r.json()["id"])
    return applicant_id, loan_id


async def test_a_renewal_carries_the_old_loan_to_the_lms(client, auth, app, clock, first_loan):
    applicant_id, old_loan = first_loan
    agent = auth("applicant_agent", sub=AGENT_SUB)
    r = await _apply(
        client, agent, applicant_id, requested_amount="15000.00", refinances_loan_id=old_loan
    )
    assert r.status_code == 201, r.text
    assert r.json()["refinances_loan_id"] == old_loan
    app_id = r.json()["id"]
    new_loan = await _to_disbursed(client, auth, clock, app_id)
    assert new_loan != old_loan

    # The old loan is paid off from the new one, so it is not exposure on top of it: the
    # decision saw none (the first application's 10000.00 would otherwise count).
    detail = (
        await client.get(f"/v1/applications/{app_id}/decision", headers=auth("credit_manager"))
    ).json()
    assert detail["inputs"]["existing_exposure"] == "0"

    events = await _disbursed_events(app)
    assert [e.loan_id for _, e in events] == [old_loan, new_loan]
    first_headers, first = events[0]
    headers, renewal = events[1]
    assert first.settles_loan_id is None
    assert renewal.settles_loan_id == old_loan
    assert headers["ce_dataschema"] == "urn:lending:schema:LoanDisbursed:1.2"
    assert first_headers["ce_dataschema"] == "urn:lending:schema:LoanDisbursed:1.2"
    # The LOS cannot know the payoff: the whole net amount of the offer travels (15000.00
    # less the 2 % deducted fee of 300.00), and the LMS splits it at booking.
    assert str(renewal.net_disbursed) == "14700.00"

    body = (await client.get(f"/v1/applications/{app_id}", headers=agent)).json()
    assert body["refinances_loan_id"] == old_loan
    audit = (await client.get(f"/v1/applications/{app_id}/audit", headers=auth("auditor"))).json()
    actions = {rec["action"]: rec for rec in audit["items"]}
    assert actions["application_created"]["after"]["refinances_loan_id"] == old_loan
    assert actions["loan_disbursed"]["after"]["settles_loan_id"] == old_loan
    assert audit["chain_valid"]


async def test_a_second_application_without_the_field_counts_the_first_loan(
    client, auth, first_loan
):
    applicant_id, _ = first_loan
    agent = auth("applicant_agent", sub=AGENT_SUB)
    r = await _apply(client, agent, applicant_id, requested_amount="5000.00")
    assert r.status_code == 201, r.text
    assert r.json()["refinances_loan_id"] is None
    app_id = r.json()["id"]
    assert (await client.post(f"/v1/applications/{app_id}/submit", headers=agent)).is_success
    detail = (
        await client.get(f"/v1/applications/{app_id}/decision", headers=auth("credit_manager"))
    ).json()
    assert detail["inputs"]["existing_exposure"] == "10000.00"


async def test_a_loan_is_paid_off_by_one_disbursement_only(client, auth, app, clock, first_loan):
    applicant_id, old_loan = first_loan
    agent = auth("applicant_agent", sub=AGENT_SUB)
    # Two renewals may be taken in while neither is disbursed...
    ids = []
    for _ in range(2):
        r = await _apply(client, agent, applicant_id, refinances_loan_id=old_loan)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    await _to_disbursed(client, auth, clock, ids[0])
    # ... but once one is disbursed the other cannot be, and no new one is taken in.
    r = await client.post(f"/v1/applications/{ids[1]}/submit", headers=agent)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/applications/{ids[1]}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/applications/{ids[1]}/disburse", headers=auth("credit_manager"))
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "loan_already_refinanced"
    assert ids[0] in r.json()["detail"]
    assert (await client.get(f"/v1/applications/{ids[1]}", headers=agent)).json()[
        "status"
    ] == "accepted"
    r = await _apply(client, agent, applicant_id, refinances_loan_id=old_loan)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "loan_already_refinanced"
    assert [e.settles_loan_id for _, e in await _disbursed_events(app)] == [None, old_loan]


async def test_unknown_and_foreign_loans_are_refused(client, auth, app, first_loan):
    applicant_id, old_loan = first_loan
    agent = auth("applicant_agent", sub=AGENT_SUB)
    r = await _apply(client, agent, applicant_id, refinances_loan_id="LN-NEVER-DISBURSED")
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "refinanced_loan_not_found"
    other = await create_applicant(client, agent)
    r = await _apply(client, agent, other, refinances_loan_id=old_loan)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_refinance"
    assert "another applicant" in r.json()["detail"]
    # Nothing was taken in by the refusals: only the first loan's application exists.
    listed = (await client.get("/v1/applications", headers=auth("admin"))).json()
    assert listed["total"] == 1


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "validation_error"),
        ("   ", "validation_error"),
        ("LN 1", "validation_error"),
        ("-LN1", "validation_error"),
        ("x" * 65, "validation_error"),
        ("'; DROP TABLE applications; --", "validation_error"),
        (12345, "validation_error"),
        ("LN-1\x00", "invalid_character"),
    ],
)
async def test_the_reference_is_validated_at_the_edge(client, auth, value, code):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    r = await _apply(client, agent, applicant_id, refinances_loan_id=value)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert r.headers["content-type"].startswith("application/problem+json")
