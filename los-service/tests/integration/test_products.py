"""The catalog endpoint."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("role", ["applicant_agent", "auditor", "collections_agent"])
async def test_list_products(client, auth, role):
    r = await client.get("/v1/products", headers=auth(role))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["catalog_version"] == "2025.2"
    codes = [p["code"] for p in body["items"]]
    assert codes == ["AUTO-STD", "INV-FIN", "MSME-TERM", "PL-STD", "ST-WEEKLY"]
    product = body["items"][codes.index("PL-STD")]
    assert product["currency"] == "USD"
    assert (product["min_amount"], product["max_amount"]) == ("1000.00", "50000.00")
    assert (product["min_term"], product["max_term"]) == (6, 60)
    assert product["frequency"] == "monthly"
    assert product["method"] == "annuity"
    assert product["day_count"] == "30/360"
    assert (product["min_rate"], product["max_rate"]) == ("0.0899", "0.2499")
    assert product["fees"] == [
        {
            "code": "ORIGINATION",
            "kind": "percentage",
            "rate": "0.02",
            "min": "25.00",
            "max": "500.00",
            "treatment": "deducted",
            "amount": None,
        }
    ]
    assert product["second_approval_above"] == "25000.00"
    assert product["required_documents"][0] == {
        "type": "proof_of_income",
        "above_amount": "25000.00",
    }
    by_code = {p["code"]: p for p in body["items"]}
    assert by_code["ST-WEEKLY"]["frequency"] == "weekly"
    assert by_code["INV-FIN"]["method"] == "bullet"
    assert by_code["MSME-TERM"]["method"] == "equal_principal"
    assert by_code["AUTO-STD"]["fees"][1]["treatment"] == "financed"
    assert by_code["MSME-TERM"]["fees"][0]["treatment"] == "upfront"
    assert by_code["MSME-TERM"]["policy"]["eligible_employment"] == ["self_employed"]


async def test_products_need_a_token(client):
    r = await client.get("/v1/products")
    assert r.status_code == 401


async def test_health_needs_no_token(client):
    r = await client.get("/health/live")
    assert r.status_code == 200
