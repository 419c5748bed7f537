"""Real concurrency on PostgreSQL: repayments racing close of business keep the ledger exact.

Many repayments on the same few loans are posted at once (each request on its own
connection) while close of business runs over the same loans. A request that loses a race
gets 409 `concurrent_update` and is retried with the same `external_ref`, as a client
would. Afterwards every repayment is applied exactly once, the cash in the ledger is their
sum, the trial balance is zero and every loan reconciles with its postings.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lms.adapters.orm import PaymentRow

pytestmark = pytest.mark.integration
D = Decimal
LOANS = ("CC-1", "CC-2", "CC-3")
PAYMENTS_PER_LOAN = 12


@pytest.fixture
def postgres_only(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("real concurrency is a PostgreSQL property; SQLite serialises writers")


async def _pay(client, token, loan_id: str, n: int, on: date) -> int:
    """Post one repayment, retrying lost races with the same external_ref; returns retries."""
    retries = 0
    while True:
        response = await client.post(
            f"/v1/loans/{loan_id}/repayments",
            json={
                "amount": "50.00",
                "currency": "USD",
                "value_date": on.isoformat(),
                "external_ref": f"{loan_id}-{n}",
            },
            headers=token("servicing_agent"),
        )
        if response.status_code in (200, 201):
            return retries
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "concurrent_update", response.text
        retries += 1
        assert retries < 50, "a repayment kept losing races"
        await asyncio.sleep(0.01 * retries)


async def _close(client, token, day: date) -> None:
    response = await client.post(
        "/v1/cob/runs",
        json={"business_date": day.isoformat()},
        headers={**token("finance"), "Idempotency-Key": f"cob-{day}"},
    )
    assert response.status_code == 201, response.text


async def test_parallel_repayments_during_close_of_business(
    postgres_only, inbox, to_message, disbursed, client, token, clock, app
):
    for loan_id in LOANS:
        event = disbursed(loan_id=loan_id, application_id=f"APP-{loan_id}")
        assert await inbox.process(to_message(event)) == "processed"
    # Close the first weeks one by one, then race payments against the next runs.
    clock.set(datetime(2024, 5, 25, 12, tzinfo=UTC))
    first = date(2024, 5, 1)
    for offset in range(20):
        await _close(client, token, first + timedelta(days=offset))

    async def close_remaining() -> None:
        for day in (date(2024, 5, 21), date(2024, 5, 22), date(2024, 5, 23), date(2024, 5, 24)):
            await _close(client, token, day)

    payments = [
        _pay(client, token, loan_id, n, date(2024, 5, 20 + n % 5))
        for n in range(PAYMENTS_PER_LOAN)
        for loan_id in LOANS
    ]
    results = await asyncio.gather(close_remaining(), *payments)
    retries = sum(r for r in results if isinstance(r, int))

    async with app.state.uow_factory() as uow:
        counted = dict(
            (
                await uow.session.execute(
                    select(PaymentRow.loan_id, func.count()).group_by(PaymentRow.loan_id)
                )
            ).all()
        )
    assert counted == dict.fromkeys(LOANS, PAYMENTS_PER_LOAN)
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    rec = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    assert tb["balanced"], tb
    assert rec["ok"], rec
    balances = {a["account"]: D(a["balance"]) for a in tb["accounts"]}
    # Cash: paid out at disbursement (net of fees), received 50.00 per repayment.
    paid_out = len(LOANS) * D("9800.00")
    assert balances["cash_clearing"] == -paid_out + len(LOANS) * PAYMENTS_PER_LOAN * D("50.00")
    run = (await client.get("/v1/cob/runs/2024-05-24", headers=token("finance"))).json()
    assert run["status"] == "completed"
    # Not an assertion on speed: the count shows whether the races were real.
    print(f"repayments retried after losing a race: {retries}")
