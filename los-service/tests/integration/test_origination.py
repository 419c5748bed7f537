"""Origination end to end through the API: every product's decisions, staged four-eyes
reviews, counter-offers, the document gate, provider failures, replay, queue and audit."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from los.adapters.orm import AuditRow
from servicekit.tables import OUTBOX
from tests.integration.helpers import AGENT_SUB, national_id

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

# One request per product that the scorecard and policy approve with a clean file
# (figures checked against los.domain.policy: DTI and residual income well inside limits).
PRODUCTS: dict[str, dict[str, Any]] = {
    "PL-STD": {
        "amount": "10000.00",
        "term": 36,
        "employment": "employed",
        "income": "6000.00",
        "obligations": "500.00",
        "docs": [],
    },
    "AUTO-STD": {
        "amount": "20000.00",
        "term": 48,
        "employment": "employed",
        "income": "7000.00",
        "obligations": "400.00",
        "docs": ["vehicle_invoice", "proof_of_income"],
    },
    "MSME-TERM": {
        "amount": "60000.00",
        "term": 36,
        "employment": "self_employed",
        "income": "15000.00",
        "obligations": "1000.00",
        "docs": ["business_registration", "financial_statements", "bank_statement"],
    },
    "ST-WEEKLY": {
        "amount": "1000.00",
        "term": 12,
        "employment": "employed",
        "income": "3000.00",
        "obligations": "200.00",
        "docs": [],
    },
    "INV-FIN": {
        "amount": "40000.00",
        "term": 1,
        "employment": "self_employed",
        "income": "20000.00",
        "obligations": "1000.00",
        "docs": ["invoice", "buyer_acknowledgement", "business_registration"],
    },
}


async def _application(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    product: str,
    *,
    suffix: str = "07",
    applicant: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    spec = PRODUCTS[product]
    body = {
        "first_name": "Grace",
        "last_name": f"Hopper{suffix}{product}".replace("-", ""),
        "date_of_birth": "1980-01-20",
        "national_id": national_id(suffix),
        "email": "grace@example.com",
        "phone": "+15551230000",
        "address": {
            "line1": "1 Navy Way",
            "city": "Arlington",
            "postal_code": "22201",
            "country": "US",
        },
        "employment_status": spec["employment"],
        "monthly_income": spec["income"],
    }
    body.update(applicant or {})
    r = await client.post("/v1/applicants", json=body, headers=headers)
    assert r.status_code == 201, r.text
    app_body = {
        "applicant_id": r.json()["id"],
        "product_code": product,
        "requested_amount": spec["amount"],
        "currency": "USD",
        "term": spec["term"],
        "purpose": "origination test",
        "monthly_income": spec["income"],
        "monthly_obligations": spec["obligations"],
    }
    app_body.update(overrides)
    r = await client.post("/v1/applications", json=app_body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _submit(client: httpx.AsyncClient, headers: dict[str, str], app_id: str) -> Any:
    r = await client.post(f"/v1/applications/{app_id}/submit", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    app_id: str,
    doc_type: str,
    content: bytes = PDF,
    content_type: str = "application/pdf",
) -> httpx.Response:
    return await client.post(
        f"/v1/applications/{app_id}/documents",
        data={"doc_type": doc_type},
        files={"file": (f"{doc_type}.pdf", content, content_type)},
        headers=headers,
    )


async def _provide_documents(client, auth, app_id: str, doc_types: list[str]) -> None:
    agent = auth("applicant_agent", sub=AGENT_SUB)
    uw = auth("underwriter", sub="uw-docs")
    for doc_type in doc_types:
        r = await _upload(client, agent, app_id, doc_type)
        assert r.status_code == 201, r.text
        r = await client.post(
            f"/v1/applications/{app_id}/documents/{r.json()['id']}/verify",
            json={"outcome": "verified", "comment": "matches the application"},
            headers=uw,
        )
        assert r.status_code == 200, r.text


async def _outbox(app: Any) -> list[Any]:
    async with app.state.uow_factory() as uow:
        rows = await uow.session.execute(select(OUTBOX).order_by(OUTBOX.c.id))
        return list(rows.mappings().all())


# --- per product: approve, refer then approve, refer then decline, decline -----------------


@pytest.mark.parametrize("product", sorted(PRODUCTS))
async def test_product_approve_accept_disburse(client, auth, app, product):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, product)
    body = await _submit(client, agent, app_id)
    assert body["status"] == "approved", body["decision"]
    assert body["decision"]["reasons"] == []
    docs = PRODUCTS[product]["docs"]
    if docs:
        r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
        assert r.status_code == 409
        assert r.json()["code"] == "documents_incomplete"
        assert r.json()["missing"] == docs
    await _provide_documents(client, auth, app_id, docs)
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("finance"))
    assert r.status_code == 200, r.text
    loan_id = r.json()["loan_id"]
    rows = await _outbox(app)
    disbursed = [row for row in rows if row["event_type"] == "lending.LoanDisbursed.v1"]
    assert len(disbursed) == 1
    assert disbursed[0]["key"] == loan_id
    import json

    payload = json.loads(disbursed[0]["payload"])
    offer = (await client.get(f"/v1/applications/{app_id}/offer", headers=agent)).json()
    assert payload["product_code"] == product
    assert payload["risk_grade"] == offer["grade"]
    assert payload["decision_rule_set"] == "policy-2025.2"
    assert payload["aprc"] == offer["aprc"]
    assert payload["promised"]["installment_amount"] == offer["installment_amount"]


@pytest.mark.parametrize("product", sorted(PRODUCTS))
async def test_product_refer_then_approve(client, auth, product):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, product, suffix="11")  # sandbox: KYC review
    body = await _submit(client, agent, app_id)
    assert body["status"] == "referred"
    assert [r["code"] for r in body["decision"]["reasons"]] == ["KYC_REVIEW"]
    assert body["pending_stage"] == "underwriter"
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "Passport checked by video call."},
        headers=auth("underwriter", sub="uw-bob"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    if body["status"] == "referred":  # above the product's threshold: a credit manager too
        assert body["pending_stage"] == "credit_manager"
        r = await client.post(
            f"/v1/applications/{app_id}/reviews",
            json={"outcome": "approve", "comment": "Agree with underwriting."},
            headers=auth("credit_manager", sub="cm-cleo"),
        )
        assert r.status_code == 201, r.text
        body = r.json()
    assert body["status"] == "approved"
    assert body["offer"]["principal"] is not None


@pytest.mark.parametrize("product", sorted(PRODUCTS))
async def test_product_refer_then_decline(client, auth, product):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, product, suffix="44")  # bureau: delinquencies
    body = await _submit(client, agent, app_id)
    assert body["status"] == "referred"
    assert [r["code"] for r in body["decision"]["reasons"]] == ["BUREAU_DELINQUENCY"]
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "decline", "comment": "Two recent 30+ day arrears."},
        headers=auth("underwriter", sub="uw-bob"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["offer"] is None


@pytest.mark.parametrize("product", sorted(PRODUCTS))
async def test_product_decline_with_adverse_action_notice(client, auth, product):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, product, suffix="33")  # bureau: default
    body = await _submit(client, agent, app_id)
    assert body["status"] == "declined"
    reasons = body["decision"]["reasons"]
    assert [r["code"] for r in reasons][:2] == ["BUREAU_DEFAULT", "BUREAU_DELINQUENCY"]
    assert 1 <= len(reasons) <= 4
    assert all(r["notice"] for r in reasons)


async def test_product_eligibility_declines(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(
        client, agent, "MSME-TERM", applicant={"employment_status": "employed"}
    )
    body = await _submit(client, agent, app_id)
    assert body["status"] == "declined"
    assert body["decision"]["reasons"][0]["code"] == "EMPLOYMENT_INELIGIBLE"


# --- four eyes, stages, counter-offers -------------------------------------------------------


async def test_staged_four_eyes_review(client, auth):
    both = auth("applicant_agent", "underwriter", sub="dual-role-dan")
    app_id = await _application(client, both, "PL-STD", suffix="11", requested_amount="30000.00")
    await _submit(client, both, app_id)
    review = {"outcome": "approve", "comment": "ok"}
    url = f"/v1/applications/{app_id}/reviews"
    r = await client.post(url, json=review, headers=both)
    assert (r.status_code, r.json()["code"]) == (403, "four_eyes_violation")
    r = await client.post(
        url, json={"outcome": "approve", "comment": ""}, headers=auth("underwriter")
    )
    assert r.status_code == 422
    r = await client.post(url, json=review, headers=auth("applicant_agent", sub="x"))
    assert r.status_code == 403

    uw = auth("underwriter", sub="uw-bob")
    r = await client.post(url, json=review, headers=uw)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["pending_stage"]) == ("referred", "credit_manager")
    r = await client.post(url, json=review, headers=uw)
    assert (r.status_code, r.json()["code"]) == (409, "already_reviewed")
    r = await client.post(url, json=review, headers=auth("underwriter", sub="uw-eve"))
    assert (r.status_code, r.json()["code"]) == (403, "review_stage_forbidden")
    r = await client.post(url, json=review, headers=auth("credit_manager", sub="cm-cleo"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "approved"
    assert [(x["reviewer"], x["stage"]) for x in body["reviews"]] == [
        ("uw-bob", "underwriter"),
        ("cm-cleo", "credit_manager"),
    ]
    r = await client.post(url, json=review, headers=auth("credit_manager", sub="cm-other"))
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")


async def test_counter_offer_lower_amount_longer_term(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(
        client, agent, "PL-STD", suffix="11", requested_amount="30000.00", term=36
    )
    await _submit(client, agent, app_id)
    url = f"/v1/applications/{app_id}/reviews"
    uw = auth("underwriter", sub="uw-bob")
    bad = [
        {"outcome": "counter_offer", "comment": "c", "amount": "35000.00"},
        {"outcome": "counter_offer", "comment": "c", "term": 24},
        {"outcome": "counter_offer", "comment": "c", "amount": "30000.00"},
        {"outcome": "counter_offer", "comment": "c", "term": 72},
    ]
    for body in bad:
        r = await client.post(url, json=body, headers=uw)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_counter_offer"), body
    r = await client.post(url, json={"outcome": "counter_offer", "comment": "c"}, headers=uw)
    assert r.status_code == 422
    r = await client.post(
        url,
        json={
            "outcome": "counter_offer",
            "comment": "Lower exposure.",
            "amount": "20000.00",
            "term": 48,
        },
        headers=uw,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    # 20000 is below the 25000 second-approval threshold, so one approval is enough.
    assert body["status"] == "approved"
    assert (body["approved_amount"], body["approved_term"]) == ("20000.00", 48)
    offer = (await client.get(f"/v1/applications/{app_id}/offer", headers=agent)).json()
    assert (offer["principal"], offer["term"]) == ("20000.00", 48)
    # The documents required above 25000 no longer apply.
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text


# --- documents --------------------------------------------------------------------------------


async def test_document_gate_and_rules(client, auth, settings):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    uw = auth("underwriter", sub="uw-bob")
    app_id = await _application(client, agent, "AUTO-STD")
    assert (await _submit(client, agent, app_id))["status"] == "approved"
    docs_url = f"/v1/applications/{app_id}/documents"

    r = await _upload(client, agent, app_id, "vehicle_invoice", b"hello", "text/plain")
    assert (r.status_code, r.json()["code"]) == (422, "unsupported_document_type")
    r = await _upload(client, agent, app_id, "vehicle_invoice", PNG, "application/pdf")
    assert (r.status_code, r.json()["code"]) == (422, "unsupported_document_type")
    r = await _upload(client, agent, app_id, "passport_selfie")
    assert (r.status_code, r.json()["code"]) == (422, "unsupported_document_type")
    big = b"%PDF-" + b"0" * settings.document_max_bytes
    r = await _upload(client, agent, app_id, "vehicle_invoice", big)
    assert (r.status_code, r.json()["code"]) == (422, "document_too_large")
    r = await _upload(client, auth("auditor"), app_id, "vehicle_invoice")
    assert r.status_code == 403

    r = await _upload(client, agent, app_id, "vehicle_invoice")
    assert r.status_code == 201, r.text
    invoice = r.json()
    assert invoice["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert invoice["status"] == "uploaded"
    stored = settings.document_dir / invoice["sha256"][:2] / invoice["sha256"]
    assert stored.read_bytes() == PDF

    listing = (await client.get(docs_url, headers=agent)).json()
    assert listing["required"] == ["vehicle_invoice", "proof_of_income"]
    assert listing["missing"] == ["vehicle_invoice", "proof_of_income"]

    verify = f"{docs_url}/{invoice['id']}/verify"
    r = await client.post(
        verify,
        json={"comment": "own upload"},
        headers=auth("applicant_agent", "underwriter", sub=AGENT_SUB),
    )
    assert (r.status_code, r.json()["code"]) == (403, "four_eyes_violation")
    r = await client.post(verify, json={"comment": ""}, headers=uw)
    assert r.status_code == 422
    r = await client.post(verify, json={"comment": "VIN matches"}, headers=uw)
    assert r.status_code == 200
    assert r.json()["status"] == "verified"
    r = await client.post(verify, json={"comment": "again"}, headers=uw)
    assert (r.status_code, r.json()["code"]) == (409, "document_already_reviewed")
    r = await client.post(f"{docs_url}/nope/verify", json={"comment": "x"}, headers=uw)
    assert (r.status_code, r.json()["code"]) == (404, "document_not_found")

    income = (await _upload(client, agent, app_id, "proof_of_income", PNG, "image/png")).json()
    r = await client.post(
        f"{docs_url}/{income['id']}/verify",
        json={"outcome": "rejected", "comment": "unreadable"},
        headers=uw,
    )
    assert r.json()["status"] == "rejected"
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert (r.status_code, r.json()["code"], r.json()["missing"]) == (
        409,
        "documents_incomplete",
        ["proof_of_income"],
    )
    got = (await client.get(f"/v1/applications/{app_id}", headers=agent)).json()
    assert got["status"] == "approved"  # nothing half-done
    await _provide_documents(client, auth, app_id, ["proof_of_income"])
    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text
    listing = (await client.get(docs_url, headers=agent)).json()
    assert listing["missing"] == []


# --- screening, provider failures, replay --------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "dob", "status", "code"),
    [
        ("Viktor", "Grimwald", "1961-04-02", "declined", "SANCTIONS_MATCH"),
        ("Viktor", "Grimwold", "1970-01-01", "referred", "SANCTIONS_POTENTIAL_MATCH"),
        ("Portia", "Quillfeather", "1966-03-14", "referred", "PEP_MATCH"),
    ],
)
async def test_sanctions_and_pep_screening(client, auth, first, last, dob, status, code):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(
        client,
        agent,
        "PL-STD",
        applicant={"first_name": first, "last_name": last, "date_of_birth": dob},
    )
    body = await _submit(client, agent, app_id)
    assert body["status"] == status
    assert body["decision"]["reasons"][0]["code"] == code
    checks = (
        await client.get(f"/v1/applications/{app_id}/checks", headers=auth("underwriter"))
    ).json()["items"]
    screening = next(c for c in checks if c["kind"] == "sanctions")
    assert screening["details"]["hits"]


async def test_replay_reproduces_the_decision(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, "ST-WEEKLY")
    await _submit(client, agent, app_id)
    uw = auth("underwriter")
    detail = (await client.get(f"/v1/applications/{app_id}/decision", headers=uw)).json()
    assert detail["fingerprint"]
    assert len(detail["rules"]) >= 20
    assert {r["rule_id"] for r in detail["rules"] if r["fired"]} == set()
    r = await client.post(f"/v1/applications/{app_id}/decision/replay", headers=uw)
    assert r.status_code == 200
    assert r.json()["identical"] is True
    assert r.json()["replayed_fingerprint"] == detail["fingerprint"]
    r = await client.get(f"/v1/applications/{app_id}/decision", headers=agent)
    assert r.status_code == 403


# --- queue and lists --------------------------------------------------------------------------


async def test_review_queue_and_assignment(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    referred = [await _application(client, agent, "PL-STD", suffix="11") for _ in range(2)]
    approved = await _application(client, agent, "PL-STD")
    for app_id in [*referred, approved]:
        await _submit(client, agent, app_id)
    uw = auth("underwriter", sub="uw-bob")
    queue = (await client.get("/v1/reviews/queue", headers=uw)).json()
    assert queue["total"] == 2
    assert {i["id"] for i in queue["items"]} == set(referred)
    r = await client.post(
        f"/v1/applications/{referred[0]}/assign", json={"assignee": "uw-bob"}, headers=uw
    )
    assert r.status_code == 200
    assert r.json()["assignee"] == "uw-bob"
    r = await client.post(
        f"/v1/applications/{approved}/assign", json={"assignee": "uw-bob"}, headers=uw
    )
    assert r.status_code == 409
    mine = (await client.get("/v1/reviews/queue?assignee=me", headers=uw)).json()
    assert [i["id"] for i in mine["items"]] == [referred[0]]
    pool = (await client.get("/v1/reviews/queue?unassigned=true", headers=uw)).json()
    assert [i["id"] for i in pool["items"]] == [referred[1]]
    listed = (
        await client.get(
            "/v1/applications?status=referred&assignee=uw-bob&product_code=PL-STD", headers=uw
        )
    ).json()
    assert [i["id"] for i in listed["items"]] == [referred[0]]
    page = (await client.get("/v1/applications?limit=1&offset=1", headers=uw)).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    r = await client.get("/v1/reviews/queue", headers=agent)
    assert r.status_code == 403


# --- events and audit -------------------------------------------------------------------------


async def test_manual_decision_publishes_application_decided(client, auth, app):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, "PL-STD", suffix="11")
    await _submit(client, agent, app_id)
    await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "fine"},
        headers=auth("underwriter", sub="uw-bob"),
    )
    import json

    rows = [r for r in await _outbox(app) if r["key"] == app_id]
    assert [r["event_type"] for r in rows] == [
        "lending.ApplicationSubmitted.v1",
        "lending.ApplicationDecided.v1",
        "lending.ApplicationDecided.v1",
    ]
    first, last = (json.loads(rows[i]["payload"]) for i in (1, 2))
    assert (first["outcome"], first["source"]) == ("referred", "automated")
    assert (last["outcome"], last["source"]) == ("approved", "manual_review")
    text = " ".join(r["payload"] for r in rows)
    assert "Grace" not in text
    assert "1980-01-20" not in text


async def test_audit_trail_is_complete_and_tamper_evident(client, auth, app):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, "AUTO-STD")
    await _submit(client, agent, app_id)
    await _provide_documents(client, auth, app_id, ["vehicle_invoice", "proof_of_income"])
    await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    auditor = auth("auditor", sub="aud-ann")
    r = await client.get(f"/v1/applications/{app_id}/audit", headers=auditor)
    assert r.status_code == 200, r.text
    trail = r.json()
    assert trail["chain_valid"] is True
    assert [i["action"] for i in trail["items"]] == [
        "application_created",
        "application_submitted",
        "decision_made",
        "document_uploaded",
        "document_verified",
        "document_uploaded",
        "document_verified",
        "offer_accepted",
    ]
    submitted = trail["items"][1]
    assert (submitted["before"]["status"], submitted["after"]["status"]) == ("draft", "approved")
    assert submitted["actor"] == AGENT_SUB
    assert all(
        i["prev_hash"] == p["hash"]
        for p, i in zip(trail["items"], trail["items"][1:], strict=False)
    )
    assert (await client.get(f"/v1/applications/{app_id}/audit", headers=agent)).status_code == 403

    async with app.state.uow_factory() as uow:  # someone edits a past record in the database
        await uow.session.execute(
            update(AuditRow)
            .where(AuditRow.stream == f"application:{app_id}", AuditRow.seq == 3)
            .values(after={"outcome": "approve", "score": 850})
        )
        await uow.commit()
    trail = (await client.get(f"/v1/applications/{app_id}/audit", headers=auditor)).json()
    assert trail["chain_valid"] is False
    assert trail["first_invalid_seq"] == 3


async def test_withdrawal_by_the_applicant_is_audited(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, "PL-STD", suffix="11")
    await _submit(client, agent, app_id)
    r = await client.post(
        f"/v1/applications/{app_id}/withdraw", json={"reason": "found cheaper"}, headers=agent
    )
    assert r.status_code == 200
    assert r.json()["status"] == "withdrawn"
    r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")
    trail = (await client.get(f"/v1/applications/{app_id}/audit", headers=auth("auditor"))).json()
    assert trail["items"][-1]["action"] == "application_withdrawn"
    assert trail["items"][-1]["after"]["reason"] == "found cheaper"


async def test_undecided_application_has_no_decision(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await _application(client, agent, "PL-STD")
    uw = auth("underwriter")
    r = await client.get(f"/v1/applications/{app_id}/decision", headers=uw)
    assert (r.status_code, r.json()["code"]) == (404, "decision_not_found")
    r = await client.post(f"/v1/applications/{app_id}/decision/replay", headers=uw)
    assert (r.status_code, r.json()["code"]) == (404, "decision_not_found")
    r = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "too early"},
        headers=uw,
    )
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")
