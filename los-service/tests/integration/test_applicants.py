"""Onboarding, duplicates, masking and input rules for applicants."""

from __future__ import annotations

import pytest

from tests.integration.helpers import applicant_body

pytestmark = pytest.mark.integration


async def test_create_and_masking_by_role(client, auth):
    agent = auth("applicant_agent")
    body = applicant_body(
        national_id="123-45-6789", phone="+15550006789", date_of_birth="1985-06-15"
    )
    r = await client.post("/v1/applicants", json=body, headers=agent)
    assert r.status_code == 201, r.text
    created = r.json()
    applicant_id = created["id"]
    assert created["national_id"] == "*******6789"
    assert created["party_ref"].startswith("PTY-")

    masked = (await client.get(f"/v1/applicants/{applicant_id}", headers=agent)).json()
    assert masked["pii_masked"] is True
    assert masked["national_id"] == "*******6789"
    assert masked["phone"] == "********6789"
    assert masked["date_of_birth"] == "****-**-**"
    assert "123-45" not in str(masked)

    for role in ("underwriter", "admin"):
        raw = (await client.get(f"/v1/applicants/{applicant_id}", headers=auth(role))).json()
        assert raw["pii_masked"] is False
        assert raw["national_id"] == "123-45-6789"
        assert raw["phone"] == "+15550006789"
        assert raw["date_of_birth"] == "1985-06-15"
        assert raw["address"]["country"] == "US"

    r = await client.get("/v1/applicants/unknown", headers=agent)
    assert r.status_code == 404
    assert r.json()["code"] == "applicant_not_found"


async def test_same_national_id_twice_is_a_conflict(client, auth):
    agent = auth("applicant_agent")
    first = await client.post(
        "/v1/applicants", json=applicant_body(national_id="123 45 6707"), headers=agent
    )
    assert first.status_code == 201
    # The same id written differently is still the same person.
    second = await client.post(
        "/v1/applicants", json=applicant_body(national_id="123-45-6707"), headers=agent
    )
    assert second.status_code == 409
    problem = second.json()
    assert problem["code"] == "applicant_exists"
    assert problem["existing_id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("dob", "status"),
    [
        ("2007-03-10", 201),  # 18 on the clock's date, 2025-03-10
        ("2007-03-11", 422),  # 18 tomorrow
        ("1925-03-11", 201),  # 99, turns 100 tomorrow
        ("1924-03-09", 422),  # 101
    ],
)
async def test_age_limits(client, auth, dob, status):
    r = await client.post(
        "/v1/applicants", json=applicant_body(date_of_birth=dob), headers=auth("applicant_agent")
    )
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["code"] == "age_out_of_range"


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"phone": "5551234567"},
        {"phone": "+0123456789"},
        {"phone": "+1 555 123"},
        {"address": {"line1": "x", "city": "y", "postal_code": "1", "country": "XX"}},
        {"address": {"line1": "x", "city": "y", "postal_code": "1", "country": "us"}},
        {"address": {"line1": "x", "city": "y", "postal_code": "1"}},
        {"employment_status": "astronaut"},
        {"monthly_income": "-1"},
        {"first_name": ""},
        {"date_of_birth": "15/06/1985"},
        {"national_id": "x"},
    ],
)
async def test_bad_applicant_input(client, auth, overrides):
    r = await client.post(
        "/v1/applicants", json=applicant_body(**overrides), headers=auth("applicant_agent")
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


async def test_only_agents_onboard(client, auth):
    r = await client.post("/v1/applicants", json=applicant_body(), headers=auth("underwriter"))
    assert r.status_code == 403
    r = await client.post("/v1/applicants", json=applicant_body())
    assert r.status_code == 401


async def test_income_is_stored_exactly(client, auth):
    """A 20-digit amount survives the database round trip on every backend."""
    agent = auth("applicant_agent")
    r = await client.post(
        "/v1/applicants", json=applicant_body(monthly_income="123456789012345678.91"), headers=agent
    )
    assert r.status_code == 201, r.text
    got = (await client.get(f"/v1/applicants/{r.json()['id']}", headers=agent)).json()
    assert got["monthly_income"] == "123456789012345678.91"
