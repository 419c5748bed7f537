"""The append-only ledger (database triggers), the trial balance and statement import."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from lms.adapters.orm import JournalEntryRow, PostingRow, StatementLineRow

pytestmark = pytest.mark.integration
D = Decimal


@pytest.fixture
async def loan(inbox, to_message, disbursed, clock):
    assert await inbox.process(to_message(disbursed())) == "processed"
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))


async def count(app, model):
    async with app.state.uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = 1",
        "DELETE FROM postings",
        "UPDATE journal_entries SET entry_type = 'x'",
        "DELETE FROM journal_entries",
    ],
)
async def test_database_refuses_ledger_changes(app, loan, statement):
    before = await count(app, PostingRow)
    assert before == 3  # receivable, cash paid out, fee kept back
    async with app.state.uow_factory() as uow:
        with pytest.raises(DBAPIError) as caught:
            await uow.session.execute(text(statement))
        assert "immutable" in str(caught.value)
    assert await count(app, PostingRow) == before


async def test_trial_balance_sums_to_zero(client, token, loan):
    response = await client.get("/v1/ledger/trial-balance", headers=token("finance"))
    assert response.status_code == 200
    body = response.json()
    balances = {a["account"]: D(a["balance"]) for a in body["accounts"]}
    # Disbursement: receivable 10000.00 against cash 9800.00 and the 200.00 fee kept back.
    assert balances == {
        "cash_clearing": D("-9800.00"),
        "fee_income": D("-200.00"),
        "loans_receivable_principal": D("10000.00"),
    }
    assert sum(balances.values()) == 0
    assert body["balanced"] is True
    assert body["totals"] == [
        {"currency": "USD", "debits": "10000.00", "credits": "10000.00", "balance": "0.00"}
    ]


async def pay(client, token, amount, when, ref):
    response = await client.post(
        "/v1/loans/LN-1/repayments",
        json={"amount": amount, "currency": "USD", "value_date": when, "external_ref": ref},
        headers=token("servicing_agent"),
    )
    assert response.status_code == 201, response.text
    return response.json()


CSV_HEADER = "statement_line_id,value_date,amount,currency,reference,counterparty\n"


async def post_csv(client, token, content: str):
    return await client.post(
        "/v1/reconciliation/statements",
        content=content.encode(),
        headers={**token("finance"), "Content-Type": "text/csv"},
    )


async def test_statement_matching_suspense_and_reimport(client, token, loan, app):
    matched = await pay(client, token, "888.49", "2024-06-01", "BANK-1")
    other = await pay(client, token, "100.00", "2024-07-01", "BANK-2")
    content = CSV_HEADER + (
        "L1,2024-06-02,888.49,USD,BANK-1,Borrower One\n"
        "L2,2024-07-01,90.00,USD,BANK-2,Borrower One\n"
        "L3,2024-07-03,55.10,USD,UNKNOWN,Someone\n"
        "L4,2024-07-03,-9800.00,USD,DISB-1,Payout\n"
    )
    entries = await count(app, JournalEntryRow)
    response = await post_csv(client, token, content)
    assert response.status_code == 201, response.text
    report = response.json()
    by_line = {line["statement_line_id"]: line for line in report["lines"]}
    assert by_line["L1"]["status"] == "matched"
    assert by_line["L1"]["payment_id"] == matched["id"]
    assert by_line["L2"]["status"] == "amount_difference"
    assert by_line["L2"]["payment_id"] == other["id"]
    assert by_line["L2"]["difference"] == "-10.00"
    assert by_line["L3"]["status"] == "unmatched"
    assert by_line["L4"]["status"] == "unmatched_debit"
    assert report["posted_to_suspense"] == {"USD": "55.10"}
    assert "Borrower" not in response.text
    assert await count(app, JournalEntryRow) == entries + 1
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    suspense = [a for a in tb["accounts"] if a["account"] == "suspense"]
    assert suspense[0]["balance"] == "-55.10"
    assert tb["balanced"] is True

    again = await post_csv(client, token, content)
    assert again.status_code == 200
    assert again.json() == report
    assert await count(app, JournalEntryRow) == entries + 1

    # Another file repeating line L3 does not post it twice.
    overlap = await post_csv(client, token, CSV_HEADER + "L3,2024-07-03,55.10,USD,UNKNOWN,S\n")
    assert overlap.status_code == 201
    assert overlap.json()["lines"][0]["status"] == "already_imported"
    assert await count(app, JournalEntryRow) == entries + 1


async def test_bad_statement_is_rejected_whole(client, token, loan, app):
    content = CSV_HEADER + (
        "G1,2024-07-03,55.10,USD,UNKNOWN,Someone\n"
        "B1,03/07/2024,10.00,USD,X,Y\n"
        "B2,2024-07-03,ten,USD,X,Y\n"
        "B3,2024-07-03,1.001,USD,X,Y\n"
        "B4,2024-07-03,0,USD,X,Y\n"
        "G1,2024-07-03,1.00,USD,X,Y\n"
        ",2024-07-03,1.00,XXX,X,Y\n"
    )
    entries = await count(app, JournalEntryRow)
    response = await post_csv(client, token, content)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "statement_rejected"
    assert [e["line_no"] for e in body["errors"]] == [3, 4, 5, 6, 7, 8]
    assert all(e["reason"] for e in body["errors"])
    assert await count(app, JournalEntryRow) == entries
    assert await count(app, StatementLineRow) == 0
    missing = await post_csv(client, token, "id,amount\n1,2\n")
    assert missing.status_code == 422
    assert "missing columns" in missing.json()["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("table", "row", "difference"),
    [
        ("charges", {"loan_id": "NO-SUCH-LOAN", "entry_id": None}, "charges_without_loan"),
        ("charges", {"loan_id": None, "entry_id": 999_999}, "charges_without_entry"),
        (
            "interest_accruals",
            {"loan_id": "NO-SUCH-LOAN", "entry_id": None},
            "accruals_without_loan",
        ),
        ("interest_accruals", {"loan_id": None, "entry_id": 999_999}, "accruals_without_entry"),
    ],
)
async def test_reconciliation_reports_rows_pointing_at_nothing(
    client, token, app, loan, table, row, difference
):
    """Charges and accrual detail carry no per-row foreign keys; the reconciliation finds a
    row whose loan or entry does not exist."""
    before = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    assert before["ok"], before
    async with app.state.uow_factory() as uow:
        session = uow.session
        loan_id = row["loan_id"] or await session.scalar(text("SELECT min(id) FROM loans"))
        entry_id = row["entry_id"] or await session.scalar(
            text("SELECT min(id) FROM journal_entries")
        )
        if table == "charges":
            await session.execute(
                text(
                    "INSERT INTO charges (id, loan_id, installment_number, component, amount,"
                    " currency, charge_date, reason, seq, created_at, entry_id) VALUES ('CHG-X',"
                    " :loan, 1, 'penalties', 0, 'USD', '2024-07-20', 'late_fee', 99,"
                    " '2024-07-20 09:00:00+00', :entry)"
                ),
                {"loan": loan_id, "entry": entry_id},
            )
        else:
            await session.execute(
                text(
                    "INSERT INTO interest_accruals (loan_id, business_date, currency, amount,"
                    " entry_id) VALUES (:loan, '2024-07-20', 'USD', 0, :entry)"
                ),
                {"loan": loan_id, "entry": entry_id},
            )
        await uow.commit()
    after = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    assert not after["ok"]
    found = [d for d in after["differences"] if d["loan_id"] == "*"]
    assert [d["balance"] for d in found] == [difference], after
