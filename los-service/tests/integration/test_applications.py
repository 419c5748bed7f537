"""Decisions, reviews, transitions, expiry and every rejected input, through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from los.adapters.orm import ApplicationRow
from tests.integration.helpers import (
    AGENT_SUB,
    application_body,
    create_applicant,
    create_application,
)

pytestmark = pytest.mark.integration

# Figures chosen against the scorecard in los.domain.decision:
# income 3000, obligations 1000, 10000 over 36: DTI ~0.47 (refer band), score 570 (grey band).
REFER = {"monthly_income": "3000.00", "monthly_obligations": "1000.00"}
# income 2000, obligations 1500: DTI above 0.50 whatever the grade.
DECLINE_DTI = {"monthly_income": "2000.00", "monthly_obligations": "1500.00"}


async def _submit(client, headers, app_id):
    r = await client.post(f"/v1/applications/{app_id}/submit", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_refer_then_review_approve_creates_offer(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent, **REFER)
    body = await _submit(client, agent, app_id)
    assert body["status"] == "referred"
    codes = [r["code"] for r in body["decision"]["reasons"]]
    assert codes[:2] == ["DTI_ELEVATED", "SCORE_BORDERLINE"]
    assert body["offer"] is None
    r = await client.get(f"/v1/applications/{app_id}/offer", headers=agent)
    assert r.status_code == 404
    assert r.json()["code"] == "offer_not_found"

    underwriter = auth("underwriter", sub="uw-bob")
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "Stable employer, verified payslips."},
        headers=underwriter,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "approved"
    assert body["reviews"][0]["reviewer"] == "uw-bob"
    assert body["reviews"][0]["outcome"] == "approve"
    assert body["offer"]["annual_rate"] == "0.2499"  # grade E from the automated decision
    r = await client.get(f"/v1/applications/{app_id}/offer", headers=agent)
    assert r.status_code == 200
    assert r.json()["grade"] == "E"


async def test_refer_then_review_decline(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent, **REFER)
    await _submit(client, agent, app_id)
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "decline", "comment": "Obligations understated."},
        headers=auth("credit_manager", sub="cm-carol"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["offer"] is None
    r = await client.get(f"/v1/applications/{app_id}/offer", headers=agent)
    assert r.json()["code"] == "offer_not_found"


async def test_review_needs_a_comment(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent, **REFER)
    await _submit(client, agent, app_id)
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "   "},
        headers=auth("underwriter"),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


async def test_decline_on_dti_with_reason_codes(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent, **DECLINE_DTI)
    body = await _submit(client, agent, app_id)
    assert body["status"] == "declined"
    assert body["decision"]["outcome"] == "decline"
    # Residual income 2000 - 1500 - installment is also below the product's 300.00 floor.
    assert [r["code"] for r in body["decision"]["reasons"]] == [
        "DTI_HIGH",
        "AFFORDABILITY_FAIL",
        "SCORE_BORDERLINE",
    ]
    assert all(r["description"] for r in body["decision"]["reasons"])
    assert body["offer"] is None


async def test_decline_without_income(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(
        client,
        agent,
        applicant={"employment_status": "unemployed", "monthly_income": "0"},
        monthly_income="0",
        monthly_obligations="0",
    )
    body = await _submit(client, agent, app_id)
    assert body["status"] == "declined"
    assert body["decision"]["score"] == 300
    assert [r["code"] for r in body["decision"]["reasons"]] == [
        "INCOME_INSUFFICIENT",
        "SCORE_LOW",
        "EMPLOYMENT_UNSTABLE",
    ]


async def test_four_eyes(client, auth):
    both = auth("applicant_agent", "underwriter", sub="dual-role-dan")
    app_id = await create_application(client, both, **REFER)
    await _submit(client, both, app_id)
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "Looks fine to me."},
        headers=both,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "four_eyes_violation"
    r = await client.get(f"/v1/applications/{app_id}", headers=both)
    assert r.json()["status"] == "referred"
    assert r.json()["reviews"] == []


@pytest.mark.parametrize(
    ("steps", "action", "current", "target"),
    [
        (["submit"], "submit", "approved", "submitted"),
        ([], "offer/accept", "draft", "accepted"),
        (["submit"], "disburse", "approved", "disbursed"),
        (["submit", "offer/accept", "disburse"], "withdraw", "disbursed", "withdrawn"),
        (["withdraw"], "submit", "withdrawn", "submitted"),
    ],
)
async def test_illegal_transitions(client, auth, steps, action, current, target):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    boss = auth("credit_manager")
    app_id = await create_application(client, agent)
    for step in steps:
        r = await client.post(
            f"/v1/applications/{app_id}/{step}", headers=boss if step == "disburse" else agent
        )
        assert r.status_code == 200, r.text
    r = await client.post(
        f"/v1/applications/{app_id}/{action}", headers=boss if action == "disburse" else agent
    )
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "illegal_transition"
    assert f"'{current}'" in problem["detail"]
    assert f"'{target}'" in problem["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_review_of_an_approved_application_is_illegal(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    await _submit(client, agent, app_id)
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "decline", "comment": "no"},
        headers=auth("underwriter"),
    )
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_transition"


@pytest.mark.parametrize("extra", [{}, REFER])
async def test_withdraw(client, auth, extra):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent, **extra)
    if extra:
        await _submit(client, agent, app_id)
    r = await client.post(f"/v1/applications/{app_id}/withdraw", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"


async def test_offer_expiry(client, auth, clock):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    await _submit(client, agent, app_id)
    clock.advance(timedelta(days=14))  # expires_at is exactly 14 days after the offer
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 409
    assert r.json()["code"] == "offer_expired"
    r = await client.get(f"/v1/applications/{app_id}", headers=agent)
    assert r.json()["status"] == "expired"


async def test_accept_just_before_expiry(client, auth, clock):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    await _submit(client, agent, app_id)
    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    assert r.json()["offer"]["accepted_at"] is not None


async def test_disbursing_on_the_first_due_date_is_stale(client, auth, clock):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    await _submit(client, agent, app_id)
    await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    clock.advance(timedelta(days=31))  # 2025-03-10 -> 2025-04-10, the first due date
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("finance"))
    assert r.status_code == 409
    assert r.json()["code"] == "offer_stale"
    r = await client.get(f"/v1/applications/{app_id}", headers=agent)
    assert r.json()["status"] == "accepted"
    assert r.json()["loan_id"] is None


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"product_code": "NOPE"}, 422, "unknown_product"),
        ({"currency": "EUR"}, 422, "unsupported_currency"),
        ({"currency": "XYZ"}, 422, "unsupported_currency"),
        ({"currency": "usd"}, 422, "unsupported_currency"),
        ({"requested_amount": "999.99"}, 422, "amount_out_of_range"),
        ({"requested_amount": "50000.01"}, 422, "amount_out_of_range"),
        ({"requested_amount": "1000.001"}, 422, "amount_out_of_range"),
        ({"term": 5}, 422, "term_out_of_range"),
        ({"term": 61}, 422, "term_out_of_range"),
        ({"requested_amount": "0"}, 422, "validation_error"),
        ({"requested_amount": "-5000"}, 422, "validation_error"),
        ({"requested_amount": "abc"}, 422, "validation_error"),
        ({"term": 0}, 422, "validation_error"),
        ({"term": -12}, 422, "validation_error"),
        ({"monthly_income": "-1"}, 422, "validation_error"),
        ({"monthly_obligations": "-1"}, 422, "validation_error"),
        ({"purpose": ""}, 422, "validation_error"),
        ({"unexpected": 1}, 422, "validation_error"),
    ],
)
async def test_bad_application_input(client, auth, overrides, status, code):
    agent = auth("applicant_agent")
    applicant_id = await create_applicant(client, agent)
    r = await client.post(
        "/v1/applications", json=application_body(applicant_id, **overrides), headers=agent
    )
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


async def test_unknown_applicant(client, auth):
    r = await client.post(
        "/v1/applications",
        json=application_body("00000000-0000-0000-0000-000000000000"),
        headers=auth("applicant_agent"),
    )
    assert r.status_code == 404
    assert r.json()["code"] == "applicant_not_found"


async def test_unknown_application(client, auth):
    r = await client.get("/v1/applications/nope", headers=auth("auditor"))
    assert r.status_code == 404
    assert r.json()["code"] == "application_not_found"


async def test_malformed_json(client, auth):
    r = await client.post(
        "/v1/applications",
        content=b'{"applicant_id": "x", ',
        headers={**auth("applicant_agent"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "malformed_json"


async def test_amounts_keep_their_digits(client, auth):
    agent = auth("applicant_agent")
    applicant_id = await create_applicant(client, agent)
    body = application_body(
        applicant_id,
        requested_amount="12345.67",
        monthly_income=6543.21,
        monthly_obligations="0.10",
    )
    r = await client.post("/v1/applications", json=body, headers=agent)
    assert r.status_code == 201, r.text
    got = (await client.get(f"/v1/applications/{r.json()['id']}", headers=agent)).json()
    assert got["requested_amount"] == "12345.67"
    assert got["monthly_income"] == "6543.21"
    assert got["monthly_obligations"] == "0.10"


async def test_auth(client, auth):
    r = await client.post("/v1/applications", json={})
    assert r.status_code == 401
    assert r.json()["code"] == "token_missing"
    r = await client.get("/v1/applications")
    assert r.status_code == 401
    r = await client.post("/v1/applications", json={}, headers=auth("finance"))
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden_role"
    r = await client.post("/v1/applications/x/disburse", headers=auth("applicant_agent"))
    assert r.status_code == 403
    r = await client.post(
        "/v1/applications/x/reviews",
        json={"outcome": "approve", "comment": "x"},
        headers=auth("applicant_agent"),
    )
    assert r.status_code == 403
    r = await client.get("/v1/handoff/reconciliation", headers=auth("applicant_agent"))
    assert r.status_code == 403


async def test_idempotency_key_replay(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    body = application_body(applicant_id)
    headers = {**agent, "Idempotency-Key": "intake-0001"}
    first = await client.post("/v1/applications", json=body, headers=headers)
    second = await client.post("/v1/applications", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers.get("idempotent-replayed") == "true"
    listing = (
        await client.get("/v1/applications", params={"applicant_id": applicant_id}, headers=agent)
    ).json()
    assert listing["total"] == 1
    other = await client.post(
        "/v1/applications", json={**body, "requested_amount": "2000.00"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    listing = (
        await client.get("/v1/applications", params={"applicant_id": applicant_id}, headers=agent)
    ).json()
    assert listing["total"] == 1


async def test_list_paginates_and_filters(client, auth, clock):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    ids = []
    for _ in range(3):
        r = await client.post(
            "/v1/applications", json=application_body(applicant_id), headers=agent
        )
        ids.append(r.json()["id"])
        clock.advance(timedelta(hours=1))
    await client.post(f"/v1/applications/{ids[0]}/withdraw", headers=agent)
    other = await create_application(client, agent)

    page = (await client.get("/v1/applications", params={"limit": 2}, headers=agent)).json()
    assert page["total"] == 4
    assert len(page["items"]) == 2
    assert page["items"][0]["id"] == other  # newest first
    page2 = (
        await client.get("/v1/applications", params={"limit": 2, "offset": 2}, headers=agent)
    ).json()
    assert [i["id"] for i in page2["items"]] == [ids[1], ids[0]]

    drafts = (
        await client.get(
            "/v1/applications",
            params={"status": "draft", "applicant_id": applicant_id},
            headers=agent,
        )
    ).json()
    assert drafts["total"] == 2
    withdrawn = (
        await client.get("/v1/applications", params={"status": "withdrawn"}, headers=agent)
    ).json()
    assert [i["id"] for i in withdrawn["items"]] == [ids[0]]
    window = (
        await client.get(
            "/v1/applications",
            params={"created_from": "2025-03-10T10:00:00Z", "created_to": "2025-03-10T11:30:00Z"},
            headers=agent,
        )
    ).json()
    assert {i["id"] for i in window["items"]} == {ids[1], ids[2]}
    none = (
        await client.get("/v1/applications", params={"product_code": "OTHER"}, headers=agent)
    ).json()
    assert none["total"] == 0
    bad = await client.get("/v1/applications", params={"status": "nonsense"}, headers=agent)
    assert bad.status_code == 422
    bad = await client.get("/v1/applications", params={"limit": 0}, headers=agent)
    assert bad.status_code == 422


async def test_concurrent_update_loses(client, auth, app, monkeypatch):
    """Another writer changes the row between our read and our write: 409, nothing applied."""
    from los.adapters.repository import ApplicationRepository

    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    original = ApplicationRepository.get_with_applicant

    async def load_then_race(repo, application_id, stream):
        found = await original(repo, application_id, stream)
        async with app.state.uow_factory() as other:
            theirs = await other.session.get(ApplicationRow, application_id)
            theirs.purpose = "changed elsewhere"
            await other.commit()
        return found

    monkeypatch.setattr(ApplicationRepository, "get_with_applicant", load_then_race)
    r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "concurrent_update"
    monkeypatch.undo()
    got = (await client.get(f"/v1/applications/{app_id}", headers=agent)).json()
    assert got["status"] == "draft"
    assert got["purpose"] == "changed elsewhere"
    assert got["decision"] is None
    assert got["version"] == 2
