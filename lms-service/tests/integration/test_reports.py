"""Portfolio report and loan tape, driven by close of business over four months.

Portfolio: three loans of 10000.00 at 12% over 12 months (30/360, half-even), disbursed
2024-05-01, first due 2024-06-01:

- GOOD (USD) pays each installment on its due date;
- BAD (USD) pays nothing;
- EURO (EUR) pays each installment on its due date.

Golden figures come from the independent annuity table in tests/conftest.py and the
accrual rule written out here in Fraction arithmetic (a period's interest times the days
elapsed over the days in the period, rounded half-even once); days past due are counted
from BAD's first due date. Penalties are not golden here (test_cob covers them); the
report's penalties are checked against the charges table, a separate record of them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from lms.adapters.orm import ChargeRow

pytestmark = pytest.mark.integration
D = Decimal
CENT = D("0.01")
DUE = [date(2024 + (5 + k) // 12, (5 + k) % 12 + 1, 1) for k in range(12)]


def ratio(part: Decimal, whole: Decimal) -> str:
    return str((part / whole).quantize(D("0.0001"), ROUND_HALF_EVEN))


def share(interest: Decimal, start: date, due: date, on: date) -> Decimal:
    exact = Fraction(interest) * (on - start).days / (due - start).days
    return (D(exact.numerator) / D(exact.denominator)).quantize(CENT, ROUND_HALF_EVEN)


@pytest.fixture
def table(reference):
    return reference(D("10000.00"), D("0.12"), 12)


def accrued(table, on: date) -> Decimal:
    """Interest accrued by the end of `on` on one loan."""
    total, start = D("0.00"), date(2024, 5, 1)
    for row, due in zip(table, DUE, strict=True):
        total += row["interest"] if on >= due else share(row["interest"], start, due, on)
        if on < due:
            break
        start = due
    return total


def paid_installments(on: date) -> int:
    return sum(1 for due in DUE if due <= on)


def principal_left(table, on: date) -> Decimal:
    return D("10000.00") - sum((r["principal"] for r in table[: paid_installments(on)]), D(0))


async def _drive(inbox, to_message, disbursed, days, client, token, table, until, snapshots):
    for loan_id in ("GOOD", "BAD", "EURO"):
        event = disbursed(
            loan_id=loan_id,
            application_id=f"APP-{loan_id}",
            currency="EUR" if loan_id == "EURO" else "USD",
        )
        assert await inbox.process(to_message(event)) == "processed"
    payments = {
        due: [("GOOD", row["total"]), ("EURO", row["total"], "EUR")]
        for due, row in zip(DUE, table, strict=True)
    }

    async def snapshot(day: date) -> None:
        if day in snapshots:
            snapshots[day] = await _portfolio(client, token, day)

    await days.run(date(2024, 5, 1), until, payments, after_close=snapshot)


async def _portfolio(client, token, as_of: date, **params: str) -> dict:
    response = await client.get(
        "/v1/reports/portfolio",
        params={"as_of": as_of.isoformat(), **params},
        headers=token("credit_manager"),
    )
    assert response.status_code == 200, response.text
    return response.json()


def _book(report: dict, currency: str) -> dict:
    return next(c for c in report["currencies"] if c["currency"] == currency)


async def test_portfolio_and_loan_tape_as_of_past_dates(
    inbox, to_message, disbursed, days, client, token, clock, app, table
):
    snapshots: dict[date, dict | None] = {date(2024, 7, 15): None, date(2024, 8, 15): None}
    await _drive(
        inbox, to_message, disbursed, days, client, token, table, date(2024, 9, 5), snapshots
    )

    # --- as of 2024-08-15: BAD is 75 days past due (61-90), GOOD current -----------------
    on = date(2024, 8, 15)
    report = await _portfolio(client, token, on, **{"from": "2024-08-01", "to": "2024-08-15"})
    usd = _book(report, "USD")
    good_principal, bad_principal = principal_left(table, on), D("10000.00")
    total_principal = good_principal + bad_principal
    good_interest = share(table[3]["interest"], DUE[2], DUE[3], on)
    bad_interest = accrued(table, on)
    async with app.state.uow_factory() as uow:
        # Added here in Python: SQLite would sum the exact text amounts as floats.
        charged = await uow.session.scalars(
            select(ChargeRow.amount).where(ChargeRow.loan_id == "BAD", ChargeRow.charge_date <= on)
        )
        bad_penalties = sum(charged.all(), D(0))
    assert bad_penalties > 0
    assert usd["loans"] == 2
    assert D(usd["outstanding"]["principal"]) == total_principal
    assert D(usd["outstanding"]["interest"]) == good_interest + bad_interest
    assert D(usd["outstanding"]["penalties"]) == bad_penalties
    assert usd["par30"] == ratio(bad_principal, total_principal)
    assert usd["par60"] == ratio(bad_principal, total_principal)
    assert usd["par90"] == "0.0000"
    assert usd["npa_ratio"] == "0.0000"
    assert D(usd["disbursed"]) == 0
    assert D(usd["collected"]) == table[2]["total"]  # GOOD on 08-01
    assert D(usd["due_in_period"]) == 2 * table[2]["total"]
    assert D(usd["paid_of_due"]) == table[2]["total"]
    assert usd["collections_efficiency"] == "0.5000"
    lines = {(line["product_code"], line["bucket"]): line for line in usd["lines"]}
    assert set(lines) == {("PERSONAL-12M", "current"), ("PERSONAL-12M", "61-90")}
    assert D(lines[("PERSONAL-12M", "61-90")]["outstanding"]["principal"]) == bad_principal
    eur = _book(report, "EUR")
    assert eur["loans"] == 1
    assert D(eur["outstanding"]["principal"]) == good_principal
    assert eur["par30"] == "0.0000"

    # --- as of 2024-09-05: BAD is 96 days past due: PAR90 and NPA ----------------------
    late = _book(await _portfolio(client, token, date(2024, 9, 5)), "USD")
    late_total = principal_left(table, date(2024, 9, 5)) + bad_principal
    assert late["par90"] == ratio(bad_principal, late_total)
    assert late["npa_ratio"] == ratio(bad_principal, late_total)

    # --- what /metrics tells SRE, read from the database when scraped ------------------
    scraped = (await client.get("/metrics")).text
    gauges = {}
    for line in scraped.splitlines():
        if line.startswith(("lms_cob_last_closed", "lms_loans_by_bucket{")):
            name, value = line.rsplit(" ", 1)
            gauges[name] = float(value)
    assert gauges["lms_cob_last_closed_business_day_end_timestamp_seconds"] == (
        datetime(2024, 9, 6, tzinfo=UTC).timestamp()
    )
    assert gauges['lms_loans_by_bucket{bucket="90+",product_code="PERSONAL-12M"}'] == 1
    assert gauges['lms_loans_by_bucket{bucket="current",product_code="PERSONAL-12M"}'] == 2

    # --- a past date is reproduced exactly: the same figures as on the day -------------
    for day, seen in snapshots.items():
        assert await _portfolio(client, token, day) == seen
    july = _book(snapshots[date(2024, 7, 15)], "USD")  # BAD 44 days past due: 31-60
    july_total = principal_left(table, date(2024, 7, 15)) + bad_principal
    assert july["par30"] == ratio(bad_principal, july_total)
    assert july["par60"] == "0.0000"

    # --- the loan tape as of 2024-08-15 -------------------------------------------------
    response = await client.get(
        "/v1/reports/loan-tape", params={"as_of": on.isoformat()}, headers=token("auditor")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = {row["loan_id"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert set(rows) == {"GOOD", "BAD", "EURO"}
    good, bad = rows["GOOD"], rows["BAD"]
    assert D(good["outstanding_principal"]) == good_principal
    assert D(good["outstanding_interest"]) == good_interest
    assert D(good["paid_to_date"]) == sum((r["total"] for r in table[:3]), D(0))
    assert good["last_payment_date"] == "2024-08-01"
    assert good["delinquency_bucket"] == "current"
    assert good["maturity_date"] == "2025-05-01"
    assert (bad["delinquency_bucket"], bad["non_performing"], bad["paid_to_date"]) == (
        "61-90",
        "false",
        "0.00",
    )
    since = date.fromisoformat(bad["bucket_since"])
    assert int(bad["days_past_due_at_last_change"]) + (on - since).days == (on - DUE[0]).days
    assert D(bad["outstanding_total"]) == bad_principal + bad_interest + bad_penalties
    assert rows["EURO"]["currency"] == "EUR"


async def test_recorded_by_reproduces_a_report_after_a_backdated_payment(
    inbox, to_message, disbursed, days, client, token, clock, table
):
    snapshots: dict[date, dict | None] = {date(2024, 6, 20): None}
    await _drive(
        inbox, to_message, disbursed, days, client, token, table, date(2024, 6, 20), snapshots
    )
    made_at = datetime(2024, 6, 20, 23, 0, tzinfo=UTC)
    # A payment for BAD arrives later, valued before the report date.
    clock.set(datetime(2024, 6, 21, 9, tzinfo=UTC))
    response = await client.post(
        "/v1/loans/BAD/repayments",
        json={
            "amount": "500.00",
            "currency": "USD",
            "value_date": "2024-06-05",
            "external_ref": "BAD-backdated",
        },
        headers=token("servicing_agent"),
    )
    assert response.status_code == 201, response.text
    now = await _portfolio(client, token, date(2024, 6, 20))
    assert now != snapshots[date(2024, 6, 20)]
    assert D(_book(now, "USD")["collected"]) == D(
        _book(snapshots[date(2024, 6, 20)], "USD")["collected"]
    ) + D("500.00")
    then = await _portfolio(client, token, date(2024, 6, 20), recorded_by=made_at.isoformat())
    assert {k: v for k, v in then.items() if k != "recorded_by"} == {
        k: v for k, v in snapshots[date(2024, 6, 20)].items() if k != "recorded_by"
    }


async def test_report_errors_and_roles(client, token):
    bad_period = await client.get(
        "/v1/reports/portfolio",
        params={"as_of": "2024-06-30", "from": "2024-06-30", "to": "2024-06-01"},
        headers=token("finance"),
    )
    assert bad_period.status_code == 422
    assert bad_period.json()["code"] == "invalid_report_period"
    bad_date = await client.get(
        "/v1/reports/portfolio", params={"as_of": "2024-13-01"}, headers=token("finance")
    )
    assert bad_date.status_code == 422
    naive = await client.get(
        "/v1/reports/loan-tape",
        params={"recorded_by": "2024-06-01T10:00:00"},
        headers=token("finance"),
    )
    assert naive.status_code == 422
    for path in ("/v1/reports/portfolio", "/v1/reports/loan-tape"):
        denied = await client.get(path, headers=token("servicing_agent"))
        assert denied.status_code == 403
    empty = await client.get(
        "/v1/reports/portfolio", params={"as_of": "2024-06-30"}, headers=token("auditor")
    )
    assert empty.status_code == 200
    assert empty.json()["currencies"] == []
