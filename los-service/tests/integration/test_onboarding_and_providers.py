"""Onboarding rules through the API, and provider failures that must never become a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from los.adapters.providers import (
    HttpBureau,
    HttpCaller,
    HttpKyc,
    HttpPolicy,
    Providers,
    load_watchlist,
)
from los.bootstrap import build_app
from tests.integration.helpers import AGENT_SUB, applicant_body, application_body

pytestmark = pytest.mark.integration


async def test_national_id_format_and_identity_per_country(client, auth):
    agent = auth("applicant_agent")
    r = await client.post(
        "/v1/applicants", json=applicant_body(national_id="000-12-3456"), headers=agent
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_national_id")
    gb = {"line1": "1 High St", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB"}
    r = await client.post(
        "/v1/applicants", json=applicant_body(national_id="AB123456C", address=gb), headers=agent
    )
    assert r.status_code == 201, r.text
    # The same digits under another country's scheme are another person.
    ng = {"line1": "1 Marina", "city": "Lagos", "postal_code": "101001", "country": "NG"}
    r1 = await client.post(
        "/v1/applicants",
        json=applicant_body(national_id="12345678901", address=ng),
        headers=agent,
    )
    assert r1.status_code == 201
    r2 = await client.post(
        "/v1/applicants",
        json=applicant_body(national_id="1234 5678 901", address=ng),
        headers=agent,
    )
    assert (r2.status_code, r2.json()["existing_id"]) == (409, r1.json()["id"])


async def test_fuzzy_duplicate_is_flagged_not_refused(client, auth):
    agent = auth("applicant_agent")
    first = await client.post(
        "/v1/applicants",
        json=applicant_body(first_name="Ada", last_name="Lovelace", date_of_birth="1985-06-15"),
        headers=agent,
    )
    second = await client.post(
        "/v1/applicants",
        json=applicant_body(first_name="ADA", last_name="Lovelase", date_of_birth="1985-06-15"),
        headers=agent,
    )
    other = await client.post(
        "/v1/applicants",
        json=applicant_body(first_name="Ada", last_name="Lovelace", date_of_birth="1985-06-16"),
        headers=agent,
    )
    assert second.status_code == 201
    assert second.json()["possible_duplicate_of"] == [first.json()["id"]]
    assert other.json()["possible_duplicate_of"] == []


async def test_pii_masked_for_roles_that_do_not_need_it(client, auth):
    r = await client.post(
        "/v1/applicants",
        json=applicant_body(email="ada@example.com"),
        headers=auth("applicant_agent"),
    )
    applicant_id = r.json()["id"]
    for role in ("applicant_agent", "auditor", "servicing_agent"):
        body = (await client.get(f"/v1/applicants/{applicant_id}", headers=auth(role))).json()
        assert body["email"] == "a****@example.com"
    raw = (await client.get(f"/v1/applicants/{applicant_id}", headers=auth("underwriter"))).json()
    assert raw["email"] == "ada@example.com"


def _failing_providers() -> Providers:
    async def no_sleep(_: float) -> None:
        return None

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("provider too slow", request=request)

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<<not json>>")

    policy = HttpPolicy(timeout_s=0.1, retries=1, backoff_s=0, sleep=no_sleep)
    return Providers(
        kyc=HttpKyc(HttpCaller("http://kyc.test", policy, transport=httpx.MockTransport(timeout))),
        bureau=HttpBureau(
            HttpCaller("http://bureau.test", policy, transport=httpx.MockTransport(garbage))
        ),
        watchlist=load_watchlist(),
    )


async def test_provider_timeout_and_garbage_refer_and_are_stored(settings, clock, auth):
    app = build_app(settings, clock=clock, providers=_failing_providers())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            agent = auth("applicant_agent", sub=AGENT_SUB)
            r = await client.post("/v1/applicants", json=applicant_body(), headers=agent)
            r = await client.post(
                "/v1/applications", json=application_body(r.json()["id"]), headers=agent
            )
            app_id = r.json()["id"]
            r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            assert body["status"] == "referred"
            codes = [x["code"] for x in body["decision"]["reasons"]]
            assert codes == ["KYC_UNAVAILABLE", "BUREAU_UNAVAILABLE"]
            checks = (
                await client.get(f"/v1/applications/{app_id}/checks", headers=auth("underwriter"))
            ).json()["items"]
            by_kind = {c["kind"]: c for c in checks}
            assert by_kind["kyc"]["status"] == "error"
            assert (by_kind["kyc"]["error"], by_kind["kyc"]["attempts"]) == ("timeout", 2)
            assert by_kind["bureau"]["status"] == "error"
            assert by_kind["bureau"]["error"] == "invalid_json"
            assert by_kind["bureau"]["raw"] == "<<not json>>"
            assert by_kind["sanctions"]["status"] == "passed"
    finally:
        await app.state.engine.dispose()


async def test_review_is_idempotent(client, auth):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    r = await client.post(
        "/v1/applicants", json=applicant_body(national_id="123-45-6711"), headers=agent
    )
    r = await client.post("/v1/applications", json=application_body(r.json()["id"]), headers=agent)
    app_id = r.json()["id"]
    assert (await client.post(f"/v1/applications/{app_id}/submit", headers=agent)).json()[
        "status"
    ] == "referred"
    headers = {**auth("underwriter", sub="uw-bob"), "Idempotency-Key": "review-0001"}
    review = {"outcome": "approve", "comment": "verified by phone"}
    first = await client.post(f"/v1/applications/{app_id}/reviews", json=review, headers=headers)
    again = await client.post(f"/v1/applications/{app_id}/reviews", json=review, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(again.json()["reviews"]) == 1
