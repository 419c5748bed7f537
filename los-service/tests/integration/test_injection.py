"""SQL-injection strings in every free-text field are data: refused by validation or stored
verbatim, never executed, and the tables stay intact."""

from __future__ import annotations

import pytest

from tests.integration.helpers import applicant_body, application_body, create_applicant

PAYLOADS = [
    "'; DROP TABLE applicants; --",
    "Robert'); DELETE FROM applications WHERE ('1'='1",
    '" OR 1=1 --',
    "x' UNION SELECT national_id FROM applicants --",
]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_applicant_text_fields_are_inert(client, auth, payload):
    agent = auth("applicant_agent", sub="agent-inj")
    admin = auth("admin", sub="admin-inj")
    before = (await client.get("/v1/applications", headers=admin)).status_code
    bodies = {
        "first_name": applicant_body(first_name=payload),
        "last_name": applicant_body(last_name=payload),
        "address.line1": applicant_body(
            address={
                "line1": payload,
                "city": "Springfield",
                "postal_code": "12345",
                "country": "US",
            }
        ),
        "address.city": applicant_body(
            address={"line1": "1 Main St", "city": payload, "postal_code": "12345", "country": "US"}
        ),
    }
    for field, body in bodies.items():
        response = await client.post("/v1/applicants", json=body, headers=agent)
        assert response.status_code in (201, 422), (field, response.status_code, response.text)
        if response.status_code == 201:
            stored = (
                await client.get(f"/v1/applicants/{response.json()['id']}", headers=admin)
            ).json()
            value = stored
            for part in field.split("."):
                value = value[part]
            assert value == payload, field
    # The tables are intact and still answer.
    assert (await client.get("/v1/applications", headers=admin)).status_code == before == 200
    applicant_id = await create_applicant(client, agent)
    assert (await client.get(f"/v1/applicants/{applicant_id}", headers=admin)).status_code == 200


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_application_purpose_and_filters_are_inert(client, auth, payload):
    agent = auth("applicant_agent", sub="agent-inj")
    admin = auth("admin", sub="admin-inj")
    applicant_id = await create_applicant(client, agent)
    response = await client.post(
        "/v1/applications", json=application_body(applicant_id, purpose=payload), headers=agent
    )
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        app_id = response.json()["id"]
        stored = (await client.get(f"/v1/applications/{app_id}", headers=admin)).json()
        assert stored["purpose"] == payload
    # Injection strings in query filters match nothing and break nothing.
    listed = await client.get(
        "/v1/applications", params={"product_code": payload, "status": "draft"}, headers=admin
    )
    assert listed.status_code in (200, 422), listed.text
    if listed.status_code == 200:
        assert listed.json()["total"] == 0
    everything = await client.get("/v1/applications", params={"limit": 200}, headers=admin)
    assert everything.status_code == 200
    assert everything.json()["total"] >= 1
