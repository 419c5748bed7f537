"""Close of business through the API and the service, on every backend, with a frozen clock.

Portfolio: four loans of 10000.00 USD at 12% over 12 months (30/360, half-even), disbursed
2024-05-01, first due 2024-06-01, penalty terms late fee 15.00, 5% a year, 5 grace days:

- ONTIME pays each installment (888.49) on its due date;
- LATE pays 1000.00 on 2024-06-10, after its first installment went overdue;
- PARTIAL pays 400.00 on 2024-06-01 and nothing more;
- UNPAID pays nothing.

Golden figures are computed here, independently of the service and its domain code: the
schedule from tests/conftest.py's annuity table, the accrual as Fraction arithmetic
(period interest x days elapsed / days in period, rounded half-even to the cent once per
cumulative figure), and penalties day by day from the overdue amounts written out below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from lms.adapters.orm import (
    ChargeRow,
    CobChunkRow,
    CobRunRow,
    CollectionCaseRow,
    ContactTaskRow,
    DelinquencyHistoryRow,
    InstallmentRow,
    InterestAccrualRow,
    LoanRow,
    PostingRow,
)
from lms.service.cob import close_business
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.tables import OUTBOX

pytestmark = pytest.mark.integration
D = Decimal
CENT = D("0.01")
LOANS = ("ONTIME", "LATE", "PARTIAL", "UNPAID")
DISBURSED = date(2024, 5, 1)
DUE = [date(2024 + (5 + k) // 12, (5 + k) % 12 + 1, 1) for k in range(12)]
GRACE = 5


def half_even(value: Fraction) -> Decimal:
    exact = Context(prec=60).divide(D(value.numerator), D(value.denominator))
    return exact.quantize(CENT, ROUND_HALF_EVEN)


def golden_accrued(table, through: date) -> Decimal:
    """Interest accrued by the end of `through`: whole periods plus the linear share."""
    total, start = D("0.00"), DISBURSED
    for row, due in zip(table, DUE, strict=True):
        if through >= due:
            total += row["interest"]
        elif through > start:
            total += half_even(
                Fraction(row["interest"]) * (through - start).days / (due - start).days
            )
        start = due
    return total


def golden_penalties(owed_by_installment, through: date) -> Decimal:
    """Late fees and daily penalty interest through `through` for one loan.

    `owed_by_installment(n, day)` is the principal and interest still owed on installment n
    at the start of `day` (None once it is paid). Installment n counts from the sixth day
    after its due date (more than 5 grace days); the fee once, then 5%/365 a day on the
    sum of what is owed on every installment that counts, rounded half-even per day.
    """
    total = D("0.00")
    fee_charged: set[int] = set()
    day = DUE[0]
    while day <= through:
        late = []
        for n, due in enumerate(DUE, start=1):
            owed = owed_by_installment(n, day)
            if owed and (day - due).days > GRACE:
                late.append((n, owed))
        for n, _ in late:
            if n not in fee_charged:
                fee_charged.add(n)
                total += D("15.00")
        if late:
            total += half_even(Fraction(sum(o for _, o in late)) * Fraction(5, 100) / 365)
        day += timedelta(days=1)
    return total


def unpaid_owed(n, _day):
    return D("888.49")


def partial_owed(n, _day):
    # 400.00 on 06-01 paid interest 100.00 and principal 300.00 of installment 1.
    return D("488.49") if n == 1 else D("888.49")


def late_owed(n, day):
    if n == 1:
        return D("888.49") if day < date(2024, 6, 10) else None
    if n == 2:
        # 1000.00 on 06-10 paid installment 1 (888.49 + 15.00 fee + 3 x 0.12 penalty
        # interest = 903.85) and 96.15 of installment 2 in advance.
        return D("888.49") - (D("1000.00") - D("903.85"))
    return D("888.49")


def ontime_owed(n, day):
    return None if day >= DUE[n - 1] else D("888.49")


PAYMENTS = {
    date(2024, 6, 1): [("ONTIME", "888.49"), ("PARTIAL", "400.00")],
    date(2024, 6, 10): [("LATE", "1000.00")],
    date(2024, 7, 1): [("ONTIME", "888.49")],
}


async def book(inbox, to_message, disbursed, loan_id):
    event = disbursed(loan_id=loan_id, application_id=f"APP-{loan_id}")
    assert await inbox.process(to_message(event)) == "processed"


async def close(client, token, clock, day, role="finance", expect=(201,)):
    clock.set(datetime(day.year, day.month, day.day, 22, tzinfo=UTC))
    response = await client.post(
        "/v1/cob/runs",
        json={"business_date": day.isoformat()},
        headers={**token(role), "Idempotency-Key": f"cob-{day}"},
    )
    assert response.status_code in expect, response.text
    return response


async def pay(client, token, clock, day, loan, amount):
    clock.set(datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
    response = await client.post(
        f"/v1/loans/{loan}/repayments",
        json={
            "amount": amount,
            "currency": "USD",
            "value_date": day.isoformat(),
            "external_ref": f"{loan}-{day}",
        },
        headers=token("servicing_agent"),
    )
    assert response.status_code == 201, response.text


async def ledger_ok(client, token):
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    rec = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    assert tb["balanced"], tb
    assert rec["ok"], rec
    return {(a["account"], a["currency"]): D(a["balance"]) for a in tb["accounts"]}


async def accrued(app) -> dict[str, Decimal]:
    async with app.state.uow_factory() as uow:
        rows = (
            await uow.session.execute(select(InterestAccrualRow.loan_id, InterestAccrualRow.amount))
        ).all()
    totals: dict[str, Decimal] = {}
    for loan_id, amount in rows:
        totals[loan_id] = totals.get(loan_id, D(0)) + amount
    return totals


async def penalties(app) -> dict[str, Decimal]:
    async with app.state.uow_factory() as uow:
        rows = (await uow.session.execute(select(ChargeRow.loan_id, ChargeRow.amount))).all()
    totals: dict[str, Decimal] = {}
    for loan_id, amount in rows:
        totals[loan_id] = totals.get(loan_id, D(0)) + amount
    return totals


async def statuses(app, loan_id) -> list[str]:
    async with app.state.uow_factory() as uow:
        stmt = (
            select(InstallmentRow.status)
            .join(LoanRow, LoanRow.id == InstallmentRow.loan_id)
            .where(
                InstallmentRow.loan_id == loan_id,
                InstallmentRow.schedule_version == LoanRow.schedule_version,
            )
            .order_by(InstallmentRow.number)
        )
        return list((await uow.session.scalars(stmt)).all())


async def delinquency(client, token, loan_id):
    body = (await client.get(f"/v1/loans/{loan_id}", headers=token("servicing_agent"))).json()
    return body["days_past_due"], body["delinquency_bucket"]


async def history(app, loan_id):
    async with app.state.uow_factory() as uow:
        stmt = (
            select(
                DelinquencyHistoryRow.business_date,
                DelinquencyHistoryRow.from_bucket,
                DelinquencyHistoryRow.to_bucket,
                DelinquencyHistoryRow.days_past_due,
            )
            .where(DelinquencyHistoryRow.loan_id == loan_id)
            .order_by(DelinquencyHistoryRow.id)
        )
        return [tuple(r) for r in (await uow.session.execute(stmt)).all()]


async def counts(app) -> dict[str, int]:
    tables = {
        "postings": PostingRow,
        "accruals": InterestAccrualRow,
        "charges": ChargeRow,
        "history": DelinquencyHistoryRow,
        "runs": CobRunRow,
        "chunks": CobChunkRow,
    }
    out = {}
    async with app.state.uow_factory() as uow:
        for name, model in tables.items():
            out[name] = int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)
        out["outbox"] = int(await uow.session.scalar(select(func.count()).select_from(OUTBOX)) or 0)
        out["row_versions"] = int(
            await uow.session.scalar(select(func.sum(LoanRow.row_version))) or 0
        )
    return out


@pytest.fixture
async def portfolio(inbox, to_message, disbursed):
    for loan_id in LOANS:
        await book(inbox, to_message, disbursed, loan_id)


async def drive(client, token, clock, start: date, end: date):
    day = start
    while day <= end:
        for loan_id, amount in PAYMENTS.get(day, []):
            await pay(client, token, clock, day, loan_id, amount)
        await close(client, token, clock, day)
        day += timedelta(days=1)


async def test_portfolio_through_two_months(client, token, clock, app, portfolio, reference):
    table = reference(D("10000.00"), D("0.12"), 12)
    owed = {
        "ONTIME": ontime_owed,
        "LATE": late_owed,
        "PARTIAL": partial_owed,
        "UNPAID": unpaid_owed,
    }

    # -- to the first due date: accrual only ------------------------------------------
    await drive(client, token, clock, date(2024, 5, 2), date(2024, 6, 1))
    # A whole first period accrues exactly the scheduled interest (100.00), on every loan.
    assert await accrued(app) == {loan: table[0]["interest"] for loan in LOANS}
    assert table[0]["interest"] == D("100.00")
    assert (await statuses(app, "ONTIME"))[:2] == ["paid", "pending"]
    for loan in ("LATE", "PARTIAL", "UNPAID"):
        assert (await statuses(app, loan))[:2] == ["due", "pending"]
    assert await penalties(app) == {}
    balances = await ledger_ok(client, token)
    assert balances[("interest_income", "USD")] == -4 * D("100.00")
    # ONTIME and PARTIAL paid 100.00 of interest each: the receivable is what is left.
    assert balances[("interest_receivable", "USD")] == 4 * D("100.00") - 2 * D("100.00")

    # -- overdue, grace, late fee and penalty interest, a late payment ------------------
    await drive(client, token, clock, date(2024, 6, 2), date(2024, 6, 15))
    assert (await statuses(app, "UNPAID"))[:2] == ["overdue", "pending"]
    assert (await statuses(app, "PARTIAL"))[:2] == ["overdue", "pending"]
    assert (await statuses(app, "LATE"))[:2] == ["paid", "pending"]
    got = await penalties(app)
    for loan in ("LATE", "PARTIAL", "UNPAID"):
        assert got[loan] == golden_penalties(owed[loan], date(2024, 6, 15)), loan
    # Spot figures: 888.49 x 5% / 365 = 0.1217... -> 0.12 a day from 06-07 (9 days to 06-15).
    assert got["UNPAID"] == D("15.00") + 9 * D("0.12")
    assert got["LATE"] == D("15.00") + 3 * D("0.12")
    assert "ONTIME" not in got
    assert await delinquency(client, token, "UNPAID") == (14, "1-30")
    assert await delinquency(client, token, "LATE") == (0, "current")
    assert await delinquency(client, token, "ONTIME") == (0, "current")
    await ledger_ok(client, token)

    # -- the second due date and beyond --------------------------------------------------
    await drive(client, token, clock, date(2024, 6, 16), date(2024, 7, 10))
    through = date(2024, 7, 10)
    expected_accrual = golden_accrued(table, through)
    # Two whole periods and 9 of the 31 days of the third, the same on every active loan.
    third = half_even(Fraction(table[2]["interest"]) * 9 / 31)
    assert expected_accrual == table[0]["interest"] + table[1]["interest"] + third
    assert await accrued(app) == {loan: expected_accrual for loan in LOANS}
    got = await penalties(app)
    for loan in ("LATE", "PARTIAL", "UNPAID"):
        assert got[loan] == golden_penalties(owed[loan], through), loan
    assert "ONTIME" not in got
    assert (await statuses(app, "UNPAID"))[:3] == ["overdue", "overdue", "pending"]
    assert (await statuses(app, "LATE"))[:3] == ["paid", "overdue", "pending"]
    assert (await statuses(app, "ONTIME"))[:3] == ["paid", "paid", "pending"]
    assert await delinquency(client, token, "UNPAID") == (39, "31-60")
    assert await delinquency(client, token, "PARTIAL") == (39, "31-60")
    assert await delinquency(client, token, "LATE") == (9, "1-30")
    assert await delinquency(client, token, "ONTIME") == (0, "current")
    assert await history(app, "UNPAID") == [
        (date(2024, 6, 2), "current", "1-30", 1),
        (date(2024, 7, 2), "1-30", "31-60", 31),
    ]
    assert await history(app, "LATE") == [
        (date(2024, 6, 2), "current", "1-30", 1),
        (date(2024, 6, 10), "1-30", "current", 0),
        (date(2024, 7, 2), "current", "1-30", 1),
    ]
    assert await history(app, "ONTIME") == []

    balances = await ledger_ok(client, token)
    total_penalties = sum(got.values(), D(0))
    assert balances[("penalty_income", "USD")] == -total_penalties
    assert balances[("interest_income", "USD")] == -4 * expected_accrual
    async with app.state.uow_factory() as uow:
        events = (
            await uow.session.execute(
                select(OUTBOX.c.aggregate_id, OUTBOX.c.sequence, OUTBOX.c.payload)
                .where(OUTBOX.c.event_type == "lending.LoanDelinquencyChanged.v1")
                .order_by(OUTBOX.c.id)
            )
        ).all()
        all_seqs = (
            await uow.session.execute(
                select(OUTBOX.c.aggregate_id, OUTBOX.c.sequence).order_by(OUTBOX.c.id)
            )
        ).all()
    assert [e[0] for e in events].count("LATE") == 3
    assert [e[0] for e in events].count("UNPAID") == 2
    # Per loan the outbox sequence runs 1, 2, 3... with COB events among the others.
    per_loan: dict[str, list[int]] = {}
    for loan_id, seq in all_seqs:
        per_loan.setdefault(loan_id, []).append(seq)
    for seqs in per_loan.values():
        assert seqs == list(range(1, len(seqs) + 1))

    # -- the last closed date again changes nothing ------------------------------------
    before = await counts(app)
    # The same Idempotency-Key replays the first response; a new key finds the closed run.
    again = await close(client, token, clock, through, expect=(201,))
    assert again.headers.get("idempotent-replayed") == "true"
    retried = await client.post(
        "/v1/cob/runs",
        json={"business_date": through.isoformat()},
        headers={**token("finance"), "Idempotency-Key": "another-key"},
    )
    assert retried.status_code == 200
    assert retried.json()["status"] == "completed"
    assert retried.json()["dates_closed"] == []
    assert await counts(app) == before


async def test_bad_requests_change_nothing(client, token, clock, app, portfolio):
    await close(client, token, clock, date(2024, 5, 10))
    await close(client, token, clock, date(2024, 5, 12))
    before = await counts(app)

    response = await close(client, token, clock, date(2024, 5, 11), expect=(409,))
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "cob_date_closed"

    clock.set(datetime(2024, 5, 12, 22, tzinfo=UTC))
    for body in ({"business_date": "2024-13-01"}, {"business_date": "tomorrow"}, {}):
        response = await client.post("/v1/cob/runs", json=body, headers=token("admin"))
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    response = await client.post(
        "/v1/cob/runs", json={"business_date": "2024-05-20"}, headers=token("admin")
    )
    assert response.status_code == 422
    assert response.json()["code"] == "cob_date_in_future"

    response = await client.post(
        "/v1/cob/runs", json={"business_date": "2024-05-12"}, headers=token("servicing_agent")
    )
    assert response.status_code == 403
    response = await client.post("/v1/cob/runs", json={"business_date": "2024-05-12"})
    assert response.status_code == 401
    assert await counts(app) == before

    # The runs: 05-10, and 05-11 and 05-12 closed by catch-up, one date at a time.
    listed = (await client.get("/v1/cob/runs", headers=token("auditor"))).json()
    assert [r["business_date"] for r in listed["items"]] == [
        "2024-05-12",
        "2024-05-11",
        "2024-05-10",
    ]
    one = (await client.get("/v1/cob/runs/2024-05-11", headers=token("finance"))).json()
    assert one["status"] == "completed"
    assert one["loans_processed"] == 4
    assert one["steps_done"] == [
        "accrual",
        "due_overdue",
        "penalties",
        "delinquency",
        "collections",
    ]
    missing = await client.get("/v1/cob/runs/2024-01-01", headers=token("finance"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "cob_run_not_found"


async def test_payoff_trues_up_the_receivable(client, token, clock, app, portfolio):
    await close(client, token, clock, date(2024, 5, 2))
    await close(client, token, clock, date(2024, 5, 16))
    accrued_before = (await accrued(app))["ONTIME"]
    # 15 of 31 days of 100.00, accrued cumulatively: round(100 x 15 / 31) = 48.39.
    assert accrued_before == half_even(Fraction(100) * 15 / 31) == D("48.39")
    clock.set(datetime(2024, 5, 17, 12, tzinfo=UTC))
    quote = (
        await client.get(
            "/v1/loans/ONTIME/payoff-quote?date=2024-05-17", headers=token("servicing_agent")
        )
    ).json()
    await pay(client, token, clock, date(2024, 5, 17), "ONTIME", quote["total"])
    loan = (await client.get("/v1/loans/ONTIME", headers=token("servicing_agent"))).json()
    assert loan["status"] == "paid_off"
    await close(client, token, clock, date(2024, 5, 17))
    accrued_after = await accrued(app)
    assert accrued_after["ONTIME"] == accrued_before  # a paid-off loan accrues no more
    await ledger_ok(client, token)
    # The closing true-up: the loan's interest income is exactly the interest it paid.
    txs = (await client.get("/v1/loans/ONTIME/transactions", headers=token("finance"))).json()[
        "items"
    ]
    true_ups = [t for t in txs if t["entry_type"] == "accrual_true_up"]
    assert len(true_ups) == 1
    paid_interest = D(quote["interest"])
    moved = {(p["account"], p["side"]): D(p["amount"]) for p in true_ups[0]["postings"]}
    gap = paid_interest - accrued_before
    if gap > 0:
        assert moved == {("interest_receivable", "debit"): gap, ("interest_income", "credit"): gap}
    else:
        assert moved == {
            ("interest_income", "debit"): -gap,
            ("interest_receivable", "credit"): -gap,
        }


# -- interruption, resume, and catch-up against daily runs -----------------------------


async def _rows(factory: UnitOfWorkFactory, *columns) -> list:
    """Every row of the selected columns, sorted (comparable between two databases)."""
    async with factory() as uow:
        return sorted((await uow.session.execute(select(*columns))).all())


async def _ledger_snapshot(factory: UnitOfWorkFactory):
    accounts: dict[tuple[str, str], Decimal] = {}
    for account, side, amount in await _rows(
        factory, PostingRow.account, PostingRow.side, PostingRow.amount
    ):
        accounts[(account, side)] = accounts.get((account, side), D(0)) + amount
    accrual_rows = await _rows(
        factory,
        InterestAccrualRow.loan_id,
        InterestAccrualRow.business_date,
        InterestAccrualRow.amount,
    )
    charges = await _rows(
        factory,
        ChargeRow.loan_id,
        ChargeRow.installment_number,
        ChargeRow.charge_date,
        ChargeRow.reason,
        ChargeRow.amount,
    )
    loans = await _rows(factory, LoanRow.id, LoanRow.days_past_due, LoanRow.delinquency_bucket)
    return accounts, accrual_rows, charges, loans


async def _collections_snapshot(factory: UnitOfWorkFactory) -> tuple[list, list]:
    """Cases and contact tasks as comparable rows (ids left out: they are random)."""
    cases = await _rows(
        factory,
        CollectionCaseRow.loan_id,
        CollectionCaseRow.status,
        CollectionCaseRow.opened_on,
        CollectionCaseRow.opened_bucket,
        CollectionCaseRow.closed_on,
        CollectionCaseRow.close_reason,
    )
    tasks = await _rows(
        factory,
        ContactTaskRow.loan_id,
        ContactTaskRow.kind,
        ContactTaskRow.rule_key,
        ContactTaskRow.due_on,
        ContactTaskRow.status,
    )
    return cases, tasks


class Boom(RuntimeError):
    pass


@pytest.fixture
def second_database_url(database_url, db_factories):
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    factory = db_factories[backend]
    url = factory.new_database()
    yield url
    factory.drop(url)


@pytest.fixture
async def second_factory(second_database_url):
    engine = create_engine(second_database_url)
    yield UnitOfWorkFactory(engine)
    await engine.dispose()


async def _book_on_both(inbox, to_message, disbursed, clock, second_factory, dlt_producer):
    """The same seven loans booked in the app's database and in the second one."""
    from lms.bootstrap import loan_disbursed_consumer
    from servicekit.inbox import DeadLetterSink, InboxProcessor

    spec = loan_disbursed_consumer(clock)
    inbox_b = InboxProcessor(
        "lms",
        second_factory,
        spec.handlers,
        dead_letter=DeadLetterSink(spec.name, second_factory, dlt_producer),
        batch_handlers=spec.batch_handlers,
        max_attempts=2,
        backoff_initial_s=0,
    )
    for loan_id in [f"LN-{k:02d}" for k in range(7)]:
        event = disbursed(loan_id=loan_id, application_id=f"APP-{loan_id}")
        assert await inbox.process(to_message(event)) == "processed"
        assert await inbox_b.process(to_message(event)) == "processed"


async def test_concurrent_chunks_write_the_same_ledger_as_one_at_a_time(
    app, inbox, to_message, disbursed, clock, second_factory, dlt_producer, monkeypatch
):
    """Database A: chunks of three loans, one at a time. Database B: the same loans in
    chunks of one, three chunks at once (on PostgreSQL; SQLite runs them one at a time).
    Every date the same ledger, accruals, charges, buckets, events, cases and tasks."""
    import lms.service.cob as cob_service

    factory_a: UnitOfWorkFactory = app.state.uow_factory
    await _book_on_both(inbox, to_message, disbursed, clock, second_factory, dlt_producer)
    in_flight = {"now": 0, "most": 0}
    real_run_chunk = cob_service.run_chunk

    async def counted(*args, **kwargs):
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            return await real_run_chunk(*args, **kwargs)
        finally:
            in_flight["now"] -= 1

    monkeypatch.setattr(cob_service, "run_chunk", counted)
    first, last = date(2024, 5, 25), date(2024, 6, 12)
    now = lambda: datetime(2024, 6, 12, 22, tzinfo=UTC)  # noqa: E731
    most_at_once = set()
    day = first
    while day <= last:
        await close_business(factory_a, day, requested_by="t", today=last, now=now, chunk_size=3)
        assert in_flight["most"] == 1
        outcome = await close_business(
            second_factory, day, requested_by="t", today=last, now=now, chunk_size=1, concurrency=3
        )
        most_at_once.add(in_flight["most"])
        in_flight["most"] = 0
        assert (outcome.run.status, outcome.run.chunks_done) == ("completed", 7)
        assert await _ledger_snapshot(factory_a) == await _ledger_snapshot(second_factory)
        assert await _collections_snapshot(factory_a) == await _collections_snapshot(second_factory)
        day += timedelta(days=1)
    # Collections ran in every chunk: each loan past due has its case and dunning tasks.
    cases, tasks = await _collections_snapshot(second_factory)
    assert [(c[0], c[1]) for c in cases] == [(f"LN-{k:02d}", "open") for k in range(7)]
    assert {t[0] for t in tasks} == {f"LN-{k:02d}" for k in range(7)}
    postgresql = second_factory.engine.dialect.name == "postgresql"
    assert most_at_once == ({3} if postgresql else {1})
    events = []
    for factory in (factory_a, second_factory):
        async with factory() as uow:
            events.append(
                sorted(
                    (
                        await uow.session.execute(
                            select(OUTBOX.c.aggregate_id, OUTBOX.c.event_type, OUTBOX.c.sequence)
                        )
                    ).all()
                )
            )
    assert events[0] == events[1]
    _, _, charges, loans = await _ledger_snapshot(second_factory)
    assert {(loan[1], loan[2]) for loan in loans} == {(11, "1-30")}
    assert len({c[0] for c in charges}) == 7


async def test_interrupted_run_resumes_to_the_same_ledger_as_daily_runs(
    app, inbox, to_message, disbursed, clock, second_factory, dlt_producer
):
    """Database A: daily runs. Database B: the same loans, one catch-up call that is
    interrupted after a chunk, then resumed. Same ledger, accruals, charges, buckets."""
    factory_a: UnitOfWorkFactory = app.state.uow_factory
    await _book_on_both(inbox, to_message, disbursed, clock, second_factory, dlt_producer)

    first, last = date(2024, 5, 20), date(2024, 6, 12)
    now = lambda: datetime(2024, 6, 12, 22, tzinfo=UTC)  # noqa: E731
    day = first
    while day <= last:
        await close_business(factory_a, day, requested_by="t", today=last, now=now, chunk_size=3)
        day += timedelta(days=1)

    await close_business(second_factory, first, requested_by="t", today=last, now=now, chunk_size=3)
    calls = []

    def fail_once(business_date, chunk_no):
        calls.append((business_date, chunk_no))
        if business_date == date(2024, 6, 3) and chunk_no == 1:
            raise Boom("killed after chunk 1 of 2024-06-03")

    with pytest.raises(Boom):
        await close_business(
            second_factory,
            last,
            requested_by="t",
            today=last,
            now=now,
            chunk_size=3,
            after_chunk=fail_once,
        )
    async with second_factory() as uow:
        run = await uow.session.get(CobRunRow, date(2024, 6, 3))
        assert run is not None
        assert run.status == "running"
        chunks = (
            await uow.session.scalars(
                select(CobChunkRow.status)
                .where(CobChunkRow.business_date == date(2024, 6, 3))
                .order_by(CobChunkRow.chunk_no)
            )
        ).all()
        assert list(chunks) == ["done", "done", "pending"]
    outcome = await close_business(
        second_factory, last, requested_by="t", today=last, now=now, chunk_size=3
    )
    assert outcome.run.status == "completed"
    assert outcome.dates_closed[0] == date(2024, 6, 3)
    assert outcome.dates_closed[-1] == last

    snapshot_a = await _ledger_snapshot(factory_a)
    snapshot_b = await _ledger_snapshot(second_factory)
    assert snapshot_a == snapshot_b
    accounts, accrual_rows, charges, loans = snapshot_a
    # Independent figures: 100.00 of period 1 + round(92.12 x 11 / 30) of period 2,
    # minus what 05-01..05-19 would have accrued (runs start on 05-20).
    per_loan = {}
    for loan_id, _day, amount in accrual_rows:
        per_loan[loan_id] = per_loan.get(loan_id, D(0)) + amount
    expected = (
        D("100.00") - half_even(Fraction(100) * 18 / 31) + half_even(Fraction(D("92.12")) * 11 / 30)
    )
    assert set(per_loan.values()) == {expected}
    assert accounts[("interest_receivable", "debit")] == 7 * expected
    assert {(loan[1], loan[2]) for loan in loans} == {(11, "1-30")}
    assert len({c[0] for c in charges}) == 7


def _repay(uow, amount: str, day: date, ref: str):
    from lms.service.servicing import record_repayment

    at = datetime(day.year, day.month, day.day, 22, tzinfo=UTC)
    return record_repayment(
        uow,
        "UNPAID",
        amount=D(amount),
        currency="USD",
        value_date=day,
        external_ref=ref,
        received_by="t",
        now=at,
        today=day,
    )


def _lines(outcome) -> dict[tuple[int, str], Decimal]:
    return {(line.installment, line.component.value): line.amount for line in outcome.payment.lines}


async def _close_on(factory: UnitOfWorkFactory, day: date):
    at = datetime(day.year, day.month, day.day, 22, tzinfo=UTC)
    return await close_business(factory, day, requested_by="t", today=day, now=lambda: at)


async def _lock_waiters(factory: UnitOfWorkFactory) -> int:
    """PostgreSQL: sessions of this database waiting for a lock right now."""
    from sqlalchemy import text

    async with factory() as uow:
        return int(
            await uow.session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


async def _until_a_session_waits(factory: UnitOfWorkFactory) -> None:
    """Poll (bounded: 20 s) until some session of the database waits for a lock."""
    import asyncio

    for _ in range(1000):
        if await _lock_waiters(factory):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no session ever waited for the other's lock")


async def test_on_sqlite_a_payment_racing_a_chunk_is_refused_then_applies_on_retry(
    client, token, clock, app, portfolio, database_url, monkeypatch
):
    """SQLite: a payment that read its loan before a chunk committed cannot overwrite the
    chunk's work (the chunk bumps row_version; the payment's optimistic check fails);
    retried, it sees the penalties. The chunk commits between the payment's read of its
    loan and its write."""
    if database_url.startswith("postgresql"):
        pytest.skip("on PostgreSQL the chunk and the payment take turns on a row lock")
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm.exc import StaleDataError

    from lms.adapters.repository import PaymentRepository

    factory: UnitOfWorkFactory = app.state.uow_factory
    await close(client, token, clock, date(2024, 6, 6))
    day = date(2024, 6, 7)
    versions = (await counts(app))["row_versions"]
    real = PaymentRepository.by_external_ref
    raced = []

    async def close_first(self, loan_id, external_ref):
        if not raced:
            raced.append(await _close_on(factory, day))
        return await real(self, loan_id, external_ref)

    monkeypatch.setattr(PaymentRepository, "by_external_ref", close_first)
    async with factory() as stale:
        with pytest.raises((StaleDataError, DBAPIError)):
            await _repay(stale, "50.00", day, "RACE")
    assert raced
    assert raced[0].run.status == "completed"
    assert (await counts(app))["row_versions"] == versions + len(LOANS)
    async with factory() as uow:
        outcome = await _repay(uow, "50.00", day, "RACE")
    # The waterfall pays the chunk's penalties first: late fee 15.00 + 0.12 of interest.
    assert _lines(outcome)[(1, "penalties")] == D("15.12")
    assert (await penalties(app))["UNPAID"] == D("15.12")
    await ledger_ok(client, token)


async def test_on_postgresql_a_chunk_waits_for_a_payment_in_flight_on_its_loan(
    client, token, clock, app, portfolio, database_url
):
    """A payment holds its loan's row lock; the chunk that starts meanwhile waits for it
    to commit and charges penalties on what the payment left owed."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    import asyncio

    from lms.service.servicing import require_loan

    factory: UnitOfWorkFactory = app.state.uow_factory
    await close(client, token, clock, date(2024, 6, 6))
    day = date(2024, 6, 7)
    async with factory() as uow:
        await require_loan(uow.session, "UNPAID", lock=True)
        closing = asyncio.ensure_future(_close_on(factory, day))
        await _until_a_session_waits(factory)
        assert not closing.done()
        outcome = await _repay(uow, "50.00", day, "FIRST")
    run = (await closing).run
    assert run.status == "completed"
    # The payment came first: no penalties yet, 50.00 of installment 1's 100.00 interest.
    assert _lines(outcome) == {(1, "interest"): D("50.00")}
    # Then the chunk: late fee 15.00 and a day's 5%/365 on the 838.49 still owed.
    day_interest = half_even(Fraction(D("838.49")) * Fraction(5, 100) / 365)
    assert day_interest == D("0.11")
    assert (await penalties(app))["UNPAID"] == D("15.00") + day_interest
    await ledger_ok(client, token)


async def test_on_postgresql_a_payment_during_a_chunk_waits_and_sees_its_penalties(
    client, token, clock, app, portfolio, database_url, monkeypatch
):
    """The chunk holds its loans' row locks until it commits; a payment that arrives
    meanwhile waits, then pays the penalties the chunk charged."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    import asyncio

    from lms.adapters.cob import CobRepository

    factory: UnitOfWorkFactory = app.state.uow_factory
    await close(client, token, clock, date(2024, 6, 6))
    day = date(2024, 6, 7)
    inside, release = asyncio.Event(), asyncio.Event()
    real = CobRepository.set_delinquency

    async def pause(self, rows):
        inside.set()
        await release.wait()
        return await real(self, rows)

    monkeypatch.setattr(CobRepository, "set_delinquency", pause)
    closing = asyncio.ensure_future(_close_on(factory, day))
    await asyncio.wait_for(inside.wait(), 20)

    async def pay():
        async with factory() as uow:
            return await _repay(uow, "50.00", day, "DURING")

    paying = asyncio.ensure_future(pay())
    await _until_a_session_waits(factory)
    assert not paying.done()
    release.set()
    assert (await closing).run.status == "completed"
    outcome = await paying
    # The waterfall pays the chunk's penalties first: late fee 15.00 + 0.12 of interest.
    assert _lines(outcome)[(1, "penalties")] == D("15.12")
    assert (await penalties(app))["UNPAID"] == D("15.12")
    await ledger_ok(client, token)


def test_cli_closes_dates_and_refuses_bad_ones(database_url, monkeypatch, capsys):
    import json

    from lms.cli import main

    monkeypatch.setenv("LMS_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, dict]:
        code = main(["cob", "run", *args])
        return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    code, out = run("--business-date", "2024-05-10", "--chunk-size", "2")
    assert (code, out["status"], out["dates_closed"]) == (0, "completed", ["2024-05-10"])
    code, out = run("--business-date", "2024-05-12", "--partition", "1/2")
    assert (code, out["error"]) == (2, "cob_previous_date_open")
    code, out = run("--business-date", "2024-05-11", "--partition", "1/2")
    # Worker 1 of 2 ran its chunks; with no loans there is one chunk, worker 0's.
    assert (code, out["status"]) == (0, "running")
    code, out = run("--business-date", "2024-05-11", "--partition", "0/2")
    assert (code, out["status"]) == (0, "completed")
    code, out = run("--business-date", "2024-05-09")
    assert (code, out["error"]) == (2, "cob_date_closed")
    with pytest.raises(SystemExit):
        main(["cob", "run", "--business-date", "2024-05-12", "--partition", "2/2"])


def _rounder(mode: str, currency: str):
    """Rounding to the currency's minor unit with a named mode, on Decimal's own modes (an
    implementation independent of the service's)."""
    from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP
    from decimal import ROUND_UP as DEC_UP

    roundings = {
        "half_even": ROUND_HALF_EVEN,
        "half_up": ROUND_HALF_UP,
        "half_down": ROUND_HALF_DOWN,
        "down": ROUND_DOWN,
        "up": DEC_UP,
        "ceiling": ROUND_CEILING,
        "floor": ROUND_FLOOR,
    }
    exponent = {"USD": "0.01", "EUR": "0.01", "BHD": "0.001", "JPY": "1"}[currency]

    def rounded(value: Fraction) -> Decimal:
        exact = Context(prec=60).divide(D(value.numerator), D(value.denominator))
        return exact.quantize(D(exponent), roundings[mode])

    return rounded, exponent


async def _book_and_close_daily(app, inbox, to_message, event, last: date) -> UnitOfWorkFactory:
    """Book one loan, then close every business date from 2024-05-02 to `last`."""
    assert await inbox.process(to_message(event)) == "processed"
    factory: UnitOfWorkFactory = app.state.uow_factory
    day = date(2024, 5, 2)
    while day <= last:
        await close_business(
            factory,
            day,
            requested_by="t",
            today=last,
            now=lambda: datetime.combine(last, datetime.min.time(), UTC),
        )
        day += timedelta(days=1)
    return factory


@pytest.mark.parametrize(
    ("mode", "currency", "principal", "rate", "day_count", "basis"),
    [
        ("half_even", "USD", "7777.77", "0.1379", "ACT/365F", "day_count"),
        ("half_up", "USD", "7777.77", "0.1379", "ACT/365F", "day_count"),
        ("half_down", "EUR", "5000.01", "0.0999", "ACT/360", "day_count"),
        ("down", "USD", "12345.67", "0.2222", "30/360", "equal_periods"),
        ("up", "USD", "12345.67", "0.2222", "30/360", "equal_periods"),
        ("ceiling", "BHD", "3333.333", "0.0777", "ACT/365F", "day_count"),
        ("floor", "JPY", "777777", "0.0555", "ACT/360", "day_count"),
    ],
)
async def test_accrual_follows_the_rule_for_every_rounding_mode_and_currency(
    app, inbox, to_message, disbursed, mode, currency, principal, rate, day_count, basis
):
    """The set-based accrual (SQL on PostgreSQL) equals the rule written out here with
    fractions, day by day, for each rounding mode and minor unit; a whole period adds up
    to the installment's interest."""
    rounded, exponent = _rounder(mode, currency)
    event = disbursed(
        loan_id="LN-R",
        application_id="APP-R",
        currency=currency,
        principal=D(principal),
        net_disbursed=D(principal),
        fees=[],
        annual_rate=D(rate),
        day_count=day_count,
        interest_basis=basis,
        rounding_mode=mode,
        term=3,
    )
    last = date(2024, 7, 3)
    factory = await _book_and_close_daily(app, inbox, to_message, event, last)
    async with factory() as uow:
        rows = dict(
            (
                await uow.session.execute(
                    select(InterestAccrualRow.business_date, InterestAccrualRow.amount).where(
                        InterestAccrualRow.loan_id == "LN-R"
                    )
                )
            ).all()
        )
        schedule = (
            await uow.session.execute(
                select(InstallmentRow.due_date, InstallmentRow.interest)
                .where(InstallmentRow.loan_id == "LN-R")
                .order_by(InstallmentRow.number)
            )
        ).all()
    expected: dict[date, Decimal] = {}
    start = DISBURSED
    for due, interest in schedule:
        length = (due - start).days

        def upto(d: date, start=start, due=due, interest=interest, length=length) -> Decimal:
            if d <= start:
                return D(0)
            if d >= due:
                return interest
            return rounded(Fraction(interest) * (d - start).days / length)

        d = start + timedelta(days=1)
        while d <= min(due, last):
            amount = upto(d) - upto(d - timedelta(days=1))
            if amount:
                expected[d] = amount
            d += timedelta(days=1)
        start = due
    assert rows == expected
    # PostgreSQL keeps the period on the loan for the next day's accrual (migration 0012):
    # after `last`, the installment in progress then, and the due date before it.
    async with factory() as uow:
        loan = await uow.session.get(LoanRow, "LN-R")
        assert loan is not None
        stored = (loan.accrual_version, loan.accrual_start, loan.accrual_due, loan.accrual_interest)
    k = next(k for k, (due, _) in enumerate(schedule) if due >= last)
    in_progress = (1, schedule[k - 1][0] if k else DISBURSED, *schedule[k])
    postgresql = factory.engine.dialect.name == "postgresql"
    assert stored == (in_progress if postgresql else (None, None, None, None))
    first_due, first_interest = schedule[0]
    assert sum((a for d, a in rows.items() if d <= first_due), D(0)) == first_interest
    # Stored at the currency's minor unit exactly (e.g. 3.23, not 3.2300000).
    scale = D(exponent).as_tuple().exponent
    assert {a.as_tuple().exponent for a in rows.values()} == {scale}


@pytest.mark.parametrize(
    ("mode", "currency", "principal", "fee", "rate", "grace"),
    [
        ("half_even", "USD", "7777.77", "12.345", "0.0777", 3),
        ("half_up", "USD", "7777.77", "12.345", "0.0777", 3),
        ("half_down", "EUR", "5000.01", "9.995", "0.1234567", 0),
        ("down", "USD", "12345.67", "15.00", "0.05", 5),
        ("up", "USD", "12345.67", "15.001", "0.05", 5),
        ("ceiling", "BHD", "3333.333", "2.0005", "0.0777", 2),
        ("floor", "JPY", "777777", "1500.5", "0.0555", 1),
    ],
)
async def test_penalties_follow_the_rule_for_every_rounding_mode_and_currency(
    app, inbox, to_message, disbursed, mode, currency, principal, fee, rate, grace
):
    """The set-based penalties (one SQL statement on PostgreSQL, the domain functions on
    SQLite) equal the rule written out here, day by day, for a loan that pays nothing: from
    the first day an installment is more than `grace` days past due, its late fee once
    (rounded to the minor unit with the loan's mode) and every day
    round(principal and interest of the late installments x rate / 365), charged to the
    oldest late installment; one balanced entry per day for that day's charges."""
    from lending_schemas import PenaltyTermsV1
    from lms.adapters.orm import JournalEntryRow

    rounded, _ = _rounder(mode, currency)
    event = disbursed(
        loan_id="LN-P",
        application_id="APP-P",
        currency=currency,
        principal=D(principal),
        net_disbursed=D(principal),
        fees=[],
        annual_rate=D("0.1"),
        day_count="ACT/365F",
        interest_basis="day_count",
        rounding_mode=mode,
        term=3,
        penalty=PenaltyTermsV1(late_fee_flat=D(fee), penalty_rate_annual=D(rate), grace_days=grace),
    )
    last = date(2024, 8, 10)
    factory = await _book_and_close_daily(app, inbox, to_message, event, last)
    async with factory() as uow:
        charges = (
            await uow.session.execute(
                select(
                    ChargeRow.charge_date,
                    ChargeRow.reason,
                    ChargeRow.installment_number,
                    ChargeRow.amount,
                    ChargeRow.seq,
                    ChargeRow.entry_id,
                ).where(ChargeRow.loan_id == "LN-P")
            )
        ).all()
        schedule = (
            await uow.session.execute(
                select(
                    InstallmentRow.number,
                    InstallmentRow.due_date,
                    InstallmentRow.principal,
                    InstallmentRow.interest,
                    InstallmentRow.penalties,
                )
                .where(InstallmentRow.loan_id == "LN-P")
                .order_by(InstallmentRow.number)
            )
        ).all()
        postings = (
            await uow.session.execute(
                select(PostingRow.entry_id, PostingRow.account, PostingRow.side, PostingRow.amount)
                .join(JournalEntryRow, JournalEntryRow.id == PostingRow.entry_id)
                .where(
                    JournalEntryRow.loan_id == "LN-P",
                    JournalEntryRow.entry_type == "charge_penalties",
                )
            )
        ).all()
    expected: dict[tuple[date, str, int], Decimal] = {}
    day = date(2024, 5, 2)
    while day <= last:
        late = [row for row in schedule if (day - row.due_date).days > grace]
        for row in late:
            if (day - row.due_date).days == grace + 1:
                expected[(day, "late_fee", row.number)] = rounded(Fraction(D(fee)))
        if late:
            base = sum((row.principal + row.interest for row in late), D(0))
            amount = rounded(Fraction(base) * Fraction(D(rate)) / 365)
            if amount > 0:
                expected[(day, "penalty_interest", late[0].number)] = amount
        day += timedelta(days=1)
    assert {(c.charge_date, c.reason, c.installment_number): c.amount for c in charges} == (
        expected
    )
    assert len(charges) == len(expected)
    # Numbered one after another; each installment carries what was charged to it.
    assert sorted(c.seq for c in charges) == list(
        range(min(c.seq for c in charges), min(c.seq for c in charges) + len(charges))
    )
    for row in schedule:
        assert row.penalties == sum(
            (a for (_, _, n), a in expected.items() if n == row.number), D(0)
        )
    # One entry per day with charges: penalties receivable debited and penalty income
    # credited with the day's total, each of the day's charges pointing at it.
    by_entry: dict[int, list[tuple[str, str, Decimal]]] = {}
    for entry_id, account, side, amount in postings:
        by_entry.setdefault(entry_id, []).append((account, side, amount))
    day_total: dict[date, Decimal] = {}
    for (day, _, _), amount in expected.items():
        day_total[day] = day_total.get(day, D(0)) + amount
    entry_of_day = {c.charge_date: c.entry_id for c in charges}
    assert all(entry_of_day[c.charge_date] == c.entry_id for c in charges)
    assert set(entry_of_day.values()) == set(by_entry)
    for day, entry_id in entry_of_day.items():
        assert sorted(by_entry[entry_id]) == [
            ("penalties_receivable", "debit", day_total[day]),
            ("penalty_income", "credit", day_total[day]),
        ]


async def test_cob_process_killed_mid_run_resumes_to_the_same_figures(
    database_url, inbox, to_message, disbursed, app
):
    """`lms cob run` SIGKILLs itself after a committed chunk (crash point cob.after_chunk);
    the same command again finishes the date, and the figures are those of the rule."""
    import asyncio
    import os
    import subprocess
    import sys
    from pathlib import Path

    from lms.service.cob import COB_AFTER_CHUNK

    for k in range(7):
        event = disbursed(loan_id=f"LN-K{k}", application_id=f"APP-K{k}")
        assert await inbox.process(to_message(event)) == "processed"
    lms = str(Path(sys.executable).with_name("lms"))
    env = {**os.environ, "LMS_DATABASE_URL": database_url}
    command = [lms, "cob", "run", "--business-date", "2024-05-10", "--chunk-size", "2"]

    def run(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    killed = await asyncio.to_thread(
        run, {"LENDING_CRASH_POINT": COB_AFTER_CHUNK, "LENDING_CRASH_SEED": "7"}
    )
    assert killed.returncode == -9, killed.stderr
    factory: UnitOfWorkFactory = app.state.uow_factory
    async with factory() as uow:
        done = list(
            (
                await uow.session.scalars(select(CobChunkRow.status).order_by(CobChunkRow.chunk_no))
            ).all()
        )
        run_status = (await uow.session.get(CobRunRow, date(2024, 5, 10))).status
    assert len(done) == 4  # 7 loans in chunks of 2
    # Killed on its first, second or third pass after a chunk. On PostgreSQL two chunks run
    # at once, so the chunk beside the third may have committed too: all four can be done,
    # but the run was cut off before it was marked completed.
    assert 1 <= done.count("done") <= 4
    assert run_status == "running"
    finished = await asyncio.to_thread(run, {"LENDING_CRASH_POINT": ""})
    assert finished.returncode == 0, finished.stderr
    assert '"status": "completed"' in finished.stdout
    # One day (05-10) of period 1 (05-01 to 06-01, 31 days, 100.00): round(900/31) -
    # round(800/31) = 29.03 - 25.81 = 3.22, once per loan, nothing twice.
    assert half_even(Fraction(900, 31)) - half_even(Fraction(800, 31)) == D("3.22")
    assert await accrued(app) == {f"LN-K{k}": D("3.22") for k in range(7)}
