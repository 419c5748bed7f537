"""Collections driven by close of business from 2024-05-30 to 2024-07-31, on every backend.

Portfolio (PERSONAL-12M, USD, 12% over 12 months, 30/360; default buckets and dunning):

- OLD: 10000.00 disbursed 2024-04-01, first due 2024-05-01, pays nothing;
- NEVER: 10000.00 disbursed 2024-05-01, first due 2024-06-01, pays nothing;
- BIG: 20000.00, same dates as NEVER, pays nothing;
- CURE: as NEVER, pays 1000.00 on 06-10 (all it owes, and more) and its July installment;
- KEPT: as NEVER; on 06-12 promises 950.00 by 06-20, pays 500.00 on 06-15 and 450.00 on
  06-19 (all it owes by then), and its July installment;
- BROKEN: as NEVER; pays 100.00 on 06-11, on 06-12 promises one installment by 06-25,
  pays 300.00 on 06-24.

Golden expectations are written out here: days past due count from the first unpaid due
date (zero once a loan has paid all it owes); buckets are the default bands; a dunning task
falls due `after_days` after the day the loan entered its bucket, simulated day by day;
amounts overdue are the independent annuity table's installments plus the penalties in the
charges table (a separate record) less the payments made.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.adapters.cob import LoanRange
from lms.adapters.orm import (
    CaseActionRow,
    ChargeRow,
    CollectionCaseRow,
    ContactTaskRow,
    PromiseToPayRow,
)
from lms.service.collections import run_collections_step

pytestmark = pytest.mark.integration
D = Decimal
START = date(2024, 5, 30)
END = date(2024, 7, 31)
LOANS = ("OLD", "NEVER", "BIG", "CURE", "KEPT", "BROKEN")
FIRST_UNPAID = {loan: date(2024, 6, 1) for loan in LOANS} | {"OLD": date(2024, 5, 1)}
CURED_ON = {"CURE": date(2024, 6, 10), "KEPT": date(2024, 6, 19)}
BANDS = (("current", 0), ("1-30", 30), ("31-60", 60), ("61-90", 90), ("90+", None))
DUNNING = {
    "1-30": ((0, "message"), (7, "call")),
    "31-60": ((0, "call"), (14, "visit")),
    "61-90": ((0, "visit"),),
    "90+": ((0, "visit"),),
}


def band(dpd: int) -> str:
    return next(label for label, up in BANDS if up is None or dpd <= up)


def dpd(loan: str, on: date) -> int:
    if loan in CURED_ON and on >= CURED_ON[loan]:
        return 0
    return max((on - FIRST_UNPAID[loan]).days, 0)


def expected_tasks(until: date) -> set[tuple[str, str, date]]:
    """(loan, rule, due date) of every task, by walking the days one at a time."""
    out = set()
    for loan in LOANS:
        previous, entered, day = "current", START, START
        while day <= until:
            bucket = band(dpd(loan, day))
            if bucket != previous:
                previous, entered = bucket, day
            for after, action in DUNNING.get(bucket, ()):
                if entered + timedelta(days=after) == day:
                    out.add((loan, f"{bucket}:{after}:{action}", day))
            day += timedelta(days=1)
    return out


@pytest.fixture
def tables(reference):
    return {
        "small": reference(D("10000.00"), D("0.12"), 12),
        "big": reference(D("20000.00"), D("0.12"), 12),
    }


def _payments(tables) -> dict[date, list[tuple[str, Decimal]]]:
    july = tables["small"][1]["total"]
    return {
        date(2024, 6, 10): [("CURE", D("1000.00"))],
        date(2024, 6, 11): [("BROKEN", D("100.00"))],
        date(2024, 6, 15): [("KEPT", D("500.00"))],
        date(2024, 6, 19): [("KEPT", D("450.00"))],
        date(2024, 6, 24): [("BROKEN", D("300.00"))],
        date(2024, 7, 1): [("CURE", july), ("KEPT", july)],
    }


async def _book(inbox, to_message, disbursed, tables):
    for loan_id in LOANS:
        fields: dict = {"loan_id": loan_id, "application_id": f"APP-{loan_id}"}
        if loan_id == "OLD":
            fields |= {
                "disbursement_date": date(2024, 4, 1),
                "first_due_date": date(2024, 5, 1),
                "disbursed_at": datetime(2024, 4, 1, 9, tzinfo=UTC),
            }
        if loan_id == "BIG":
            table = tables["big"]
            base = disbursed()
            fields |= {
                "principal": D("20000.00"),
                "net_disbursed": D("19800.00"),
                "promised": base.promised.model_copy(
                    update={
                        "installment_amount": table[0]["total"],
                        "total_repayable": sum((r["total"] for r in table), D(0)),
                        "total_interest": sum((r["interest"] for r in table), D(0)),
                    }
                ),
            }
        assert await inbox.process(to_message(disbursed(**fields))) == "processed"


def _morning(clock, day: date) -> None:
    clock.set(datetime(day.year, day.month, day.day, 9, tzinfo=UTC))


def _agent(token, *roles: str, sub: str = "amy"):
    return token(*(roles or ("collections_agent",)), sub=sub)


async def _queue(client, token, **params) -> dict:
    response = await client.get(
        "/v1/collections/queue", params=params, headers=token("credit_manager")
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _case(client, token, case_id: str) -> dict:
    response = await client.get(f"/v1/collections/cases/{case_id}", headers=token("auditor"))
    assert response.status_code == 200, response.text
    return response.json()


async def _case_ids(app) -> dict[str, list[str]]:
    async with app.state.uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(CollectionCaseRow.loan_id, CollectionCaseRow.id).order_by(
                    CollectionCaseRow.opened_on, CollectionCaseRow.id
                )
            )
        ).all()
    out: dict[str, list[str]] = {}
    for loan_id, case_id in rows:
        out.setdefault(loan_id, []).append(case_id)
    return out


async def _all_tasks(client, token) -> list[dict]:
    items: list[dict] = []
    while True:
        response = await client.get(
            "/v1/collections/tasks",
            params={"limit": 200, "offset": len(items)},
            headers=token("collections_agent"),
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if len(items) >= page["total"]:
            return items


async def _penalties(app, loan_id: str, until: date) -> Decimal:
    async with app.state.uow_factory() as uow:
        amounts = await uow.session.scalars(
            select(ChargeRow.amount).where(
                ChargeRow.loan_id == loan_id, ChargeRow.charge_date <= until
            )
        )
        return sum(amounts.all(), D(0))  # added in Python: exact on every backend


async def _snapshot(app) -> dict[str, list[tuple]]:
    out = {}
    async with app.state.uow_factory() as uow:
        for row_type in (CollectionCaseRow, CaseActionRow, PromiseToPayRow, ContactTaskRow):
            columns = list(row_type.__table__.columns)
            rows = (await uow.session.execute(select(*columns).order_by(columns[0]))).all()
            out[row_type.__tablename__] = [tuple(r) for r in rows]
    return out


async def test_collections_over_two_months_of_close_of_business(
    inbox, to_message, disbursed, client, token, clock, app, tables, days
):
    small, big = tables["small"], tables["big"]
    payments = _payments(tables)
    await _book(inbox, to_message, disbursed, tables)

    # --- 05-30: OLD is 29 days past due: a case and its first dunning task -------------
    await days.run(START, date(2024, 6, 1), payments)
    assert set(await _case_ids(app)) == {"OLD"}
    await days.run(date(2024, 6, 2), date(2024, 6, 2), payments)
    cases = await _case_ids(app)
    assert {loan: len(ids) for loan, ids in cases.items()} == dict.fromkeys(LOANS, 1)
    old = await _case(client, token, cases["OLD"][0])
    assert (old["opened_on"], old["opened_bucket"], old["bucket"]) == (
        "2024-05-30",
        "1-30",
        "31-60",
    )
    never = await _case(client, token, cases["NEVER"][0])
    assert (never["opened_on"], never["status"], never["days_past_due"]) == (
        "2024-06-02",
        "open",
        1,
    )

    # --- 06-03: an agent sends CURE's message and marks the task done ------------------
    _morning(clock, date(2024, 6, 3))
    cure_case = await _case(client, token, cases["CURE"][0])
    (message,) = [t for t in cure_case["tasks"] if t["kind"] == "message"]
    assert (message["due_on"], message["status"]) == ("2024-06-02", "open")
    action = await client.post(
        f"/v1/collections/cases/{cure_case['id']}/actions",
        json={"kind": "message", "note": "reminder sent by SMS"},
        headers={**_agent(token), "Idempotency-Key": "act-1"},
    )
    assert action.status_code == 201, action.text
    done = await client.post(
        f"/v1/collections/tasks/{message['id']}/done",
        headers={**_agent(token), "Idempotency-Key": "done-1"},
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["done_by"]) == ("done", "amy")
    again = await client.post(
        f"/v1/collections/tasks/{message['id']}/done",
        headers={**_agent(token), "Idempotency-Key": "done-2"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "task_not_open")

    # --- to 06-11: CURE pays everything on 06-10 and its case closes that day -----------
    await days.run(date(2024, 6, 3), date(2024, 6, 9), payments)
    assert (await _case(client, token, cases["CURE"][0]))["status"] == "open"
    await days.run(date(2024, 6, 10), date(2024, 6, 11), payments)
    cure_case = await _case(client, token, cases["CURE"][0])
    assert (cure_case["status"], cure_case["closed_on"], cure_case["close_reason"]) == (
        "closed",
        "2024-06-10",
        "cured",
    )
    assert {t["kind"]: t["status"] for t in cure_case["tasks"]} == {
        "message": "done",
        "call": "cancelled",
    }
    assert [a["kind"] for a in cure_case["actions"]] == ["message"]

    # --- 06-12: promises to pay, and bad input that changes nothing --------------------
    _morning(clock, date(2024, 6, 12))
    kept_id, broken_id = cases["KEPT"][0], cases["BROKEN"][0]
    before = await _snapshot(app)
    bad = [
        ({"amount": "950.00", "currency": "USD", "promised_on": "2024-06-11"}, "promise_in_past"),
        ({"amount": "950.00", "currency": "EUR", "promised_on": "2024-06-20"}, "currency_mismatch"),
        ({"amount": "0", "currency": "USD", "promised_on": "2024-06-20"}, "invalid_amount"),
        ({"amount": "-5.00", "currency": "USD", "promised_on": "2024-06-20"}, "invalid_amount"),
        ({"amount": "5.001", "currency": "USD", "promised_on": "2024-06-20"}, "invalid_amount"),
        ({"amount": "1E+30", "currency": "USD", "promised_on": "2024-06-20"}, "invalid_amount"),
    ]
    for k, (body, code) in enumerate(bad):
        response = await client.post(
            f"/v1/collections/cases/{kept_id}/promises",
            json=body,
            headers={**_agent(token), "Idempotency-Key": f"bad-{k}"},
        )
        assert (response.status_code, response.json()["code"]) == (422, code), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    body = {"amount": "950.00", "currency": "USD", "promised_on": "2024-06-20"}
    for role in ("servicing_agent", "auditor", "finance"):
        denied = await client.post(
            f"/v1/collections/cases/{kept_id}/promises", json=body, headers=token(role)
        )
        assert denied.status_code == 403
    closed = await client.post(
        f"/v1/collections/cases/{cure_case['id']}/promises", json=body, headers=_agent(token)
    )
    assert (closed.status_code, closed.json()["code"]) == (409, "case_closed")
    for path, payload in (("assign", {"agent": "amy"}), ("actions", {"kind": "note"})):
        refused = await client.post(
            f"/v1/collections/cases/{cure_case['id']}/{path}", json=payload, headers=_agent(token)
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "case_closed")
    missing = await client.post(
        "/v1/collections/cases/CASE-nope/promises", json=body, headers=_agent(token)
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "case_not_found")
    long_note = await client.post(
        f"/v1/collections/cases/{kept_id}/actions",
        json={"kind": "note", "note": "x" * 1001},
        headers=_agent(token),
    )
    assert (long_note.status_code, long_note.json()["code"]) == (422, "validation_error")
    assert await _snapshot(app) == before

    promise = await client.post(
        f"/v1/collections/cases/{kept_id}/promises",
        json=body,
        headers={**_agent(token), "Idempotency-Key": "ptp-kept"},
    )
    assert promise.status_code == 201, promise.text
    assert (promise.json()["status"], promise.json()["made_on"]) == ("open", "2024-06-12")
    second = await client.post(
        f"/v1/collections/cases/{kept_id}/promises",
        json={**body, "amount": "10.00"},
        headers=_agent(token),
    )
    assert (second.status_code, second.json()["code"]) == (409, "promise_open")
    installment = str(small[0]["total"])
    promise = await client.post(
        f"/v1/collections/cases/{broken_id}/promises",
        json={"amount": installment, "currency": "USD", "promised_on": "2024-06-25"},
        headers={**_agent(token), "Idempotency-Key": "ptp-broken"},
    )
    assert promise.status_code == 201, promise.text

    # --- KEPT pays 500 + 450: cured on 06-19, the promise kept at the close of 06-20 ----
    await days.run(date(2024, 6, 12), date(2024, 6, 19), payments)
    kept = await _case(client, token, kept_id)
    assert (kept["status"], kept["closed_on"]) == ("closed", "2024-06-19")
    assert kept["promises"][0]["status"] == "open"
    await days.run(date(2024, 6, 20), date(2024, 6, 20), payments)
    (resolved,) = (await _case(client, token, kept_id))["promises"]
    assert (resolved["status"], resolved["resolved_on"], D(resolved["amount_paid"])) == (
        "kept",
        "2024-06-20",
        D("950.00"),
    )

    # --- BROKEN paid 100 before the promise and 300 after: broken at the close of 06-25 -
    await days.run(date(2024, 6, 21), date(2024, 6, 24), payments)
    assert (await _case(client, token, broken_id))["promises"][0]["status"] == "open"
    await days.run(date(2024, 6, 25), date(2024, 6, 25), payments)
    (resolved,) = (await _case(client, token, broken_id))["promises"]
    assert (resolved["status"], resolved["resolved_on"], D(resolved["amount_paid"])) == (
        "broken",
        "2024-06-25",
        D("300.00"),
    )

    # --- 06-26: the queue -------------------------------------------------------------
    _morning(clock, date(2024, 6, 26))
    on = date(2024, 6, 25)
    queue = await _queue(client, token)
    assert queue["total"] == 4
    items = {i["loan_id"]: i for i in queue["items"]}
    # 31-60 first; then a broken promise; then the larger amount overdue.
    assert [i["loan_id"] for i in queue["items"]] == ["OLD", "BROKEN", "BIG", "NEVER"]
    assert [items[x]["bucket"] for x in ("OLD", "BROKEN", "BIG", "NEVER")] == [
        "31-60",
        "1-30",
        "1-30",
        "1-30",
    ]
    assert items["OLD"]["days_past_due"] == dpd("OLD", on) == 55
    assert items["NEVER"]["days_past_due"] == dpd("NEVER", on) == 24
    golden = {
        "OLD": small[0]["total"] + small[1]["total"] + await _penalties(app, "OLD", on),
        "NEVER": small[0]["total"] + await _penalties(app, "NEVER", on),
        "BIG": big[0]["total"] + await _penalties(app, "BIG", on),
        "BROKEN": small[0]["total"] + await _penalties(app, "BROKEN", on) - D("400.00"),
    }
    assert {k: D(v["amount_overdue"]) for k, v in items.items()} == golden
    assert golden["BIG"] > golden["NEVER"]
    assert (items["BROKEN"]["broken_promises"], items["BROKEN"]["open_promises"]) == (1, 0)
    assert items["NEVER"]["broken_promises"] == 0
    assert items["OLD"]["next_task"]["due_on"] == "2024-05-30"
    assert items["NEVER"]["next_task"]["rule_key"] == "1-30:0:message"

    assign = await client.post(
        f"/v1/collections/cases/{items['BIG']['case_id']}/assign",
        json={"agent": "amy"},
        headers={**token("credit_manager", sub="carol"), "Idempotency-Key": "assign-1"},
    )
    assert assign.status_code == 200, assign.text
    assert assign.json()["assigned_to"] == "amy"
    assert [i["loan_id"] for i in (await _queue(client, token, assigned_to="amy"))["items"]] == [
        "BIG"
    ]
    unassigned = await _queue(client, token, unassigned="true")
    assert [i["loan_id"] for i in unassigned["items"]] == ["OLD", "BROKEN", "NEVER"]
    assert [i["loan_id"] for i in (await _queue(client, token, bucket="31-60"))["items"]] == ["OLD"]
    page = await _queue(client, token, limit=2, offset=1)
    assert ([i["loan_id"] for i in page["items"]], page["total"]) == (["BROKEN", "BIG"], 4)
    amy_tasks = (
        await client.get(
            "/v1/collections/tasks",
            params={"assigned_to": "amy", "status": "open"},
            headers=_agent(token),
        )
    ).json()
    assert {t["loan_id"] for t in amy_tasks["items"]} == {"BIG"}
    assert [t["due_on"] for t in amy_tasks["items"]] == ["2024-06-02", "2024-06-09"]
    for path in ("/v1/collections/queue", "/v1/collections/tasks"):
        assert (await client.get(path, headers=token("servicing_agent"))).status_code == 403

    # --- to 07-31: every dunning task exactly once, on its date ------------------------
    await days.run(date(2024, 6, 26), END, payments)
    tasks = await _all_tasks(client, token)
    seen = [(t["loan_id"], t["rule_key"], date.fromisoformat(t["due_on"])) for t in tasks]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected_tasks(END)
    async with app.state.uow_factory() as uow:
        made = (
            await uow.session.execute(select(ContactTaskRow.due_on, ContactTaskRow.created_at))
        ).all()
    # Each task was created by the close of business of its due date (22:00 that day).
    assert all(created.date() == due_on for due_on, created in made)
    status = {(t["loan_id"], t["rule_key"]): t["status"] for t in tasks}
    assert status[("CURE", "1-30:0:message")] == "done"
    assert status[("CURE", "1-30:7:call")] == "cancelled"
    assert status[("KEPT", "1-30:0:message")] == status[("KEPT", "1-30:7:call")] == "cancelled"
    assert status[("OLD", "90+:0:visit")] == "open"
    due_by = (
        await client.get(
            "/v1/collections/tasks",
            params={"due_by": "2024-06-01", "limit": 200},
            headers=_agent(token),
        )
    ).json()
    assert {(t["loan_id"], t["due_on"]) for t in due_by["items"]} == {
        ("OLD", "2024-05-30"),
        ("OLD", "2024-06-01"),
    }

    # CURE and KEPT paid their July installments: no new case; the others stay open.
    cases = await _case_ids(app)
    assert {loan: len(ids) for loan, ids in cases.items()} == dict.fromkeys(LOANS, 1)
    final = await _queue(client, token)
    assert [i["loan_id"] for i in final["items"]] == ["OLD", "BROKEN", "BIG", "NEVER"]
    assert [i["bucket"] for i in final["items"]] == ["90+", "31-60", "31-60", "31-60"]
    assert [i["days_past_due"] for i in final["items"]] == [
        dpd(x, END) for x in ("OLD", "BROKEN", "BIG", "NEVER")
    ]

    # --- the same date again changes nothing --------------------------------------------
    before = await _snapshot(app)
    clock.set(datetime(2024, 7, 31, 23, tzinfo=UTC))
    rerun = await client.post(
        "/v1/cob/runs",
        json={"business_date": END.isoformat()},
        headers={**token("finance"), "Idempotency-Key": "cob-again"},
    )
    assert rerun.status_code == 200, rerun.text
    async with app.state.uow_factory() as uow:
        outcome = await run_collections_step(uow.session, END, clock.now(), LoanRange("", ""))
        await uow.commit()
    assert (outcome.cases_opened, outcome.cases_closed, outcome.tasks_created) == (0, 0, 0)
    assert (outcome.promises_kept, outcome.promises_broken, outcome.tasks_cancelled) == (0, 0, 0)
    assert await _snapshot(app) == before


async def test_collections_errors_without_cases(client, token):
    for path in ("/v1/collections/cases/none", "/v1/collections/cases/none/x"):
        response = await client.get(path, headers=token("credit_manager"))
        assert response.status_code == 404
    assert (await client.get("/v1/collections/cases/none", headers=token("credit_manager"))).json()[
        "code"
    ] == "case_not_found"
    done = await client.post("/v1/collections/tasks/none/done", headers=token("collections_agent"))
    assert (done.status_code, done.json()["code"]) == (404, "task_not_found")
    bad_kind = await client.post(
        "/v1/collections/cases/none/actions", json={"kind": "email"}, headers=token("admin")
    )
    assert bad_kind.status_code == 422
    empty = await client.get("/v1/collections/queue", headers=token("collections_agent"))
    assert empty.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert (await client.get("/v1/collections/queue")).status_code == 401


async def test_a_written_off_loans_case_closes_as_inactive(
    inbox, to_message, disbursed, client, token, clock, app, days
):
    event = disbursed(loan_id="GONE", application_id="APP-GONE")
    assert await inbox.process(to_message(event)) == "processed"
    await days.run(START, date(2024, 6, 3))
    (case_id,) = (await _case_ids(app))["GONE"]
    case = await _case(client, token, case_id)
    assert (case["status"], case["opened_on"], len(case["tasks"])) == ("open", "2024-06-02", 1)
    _morning(clock, date(2024, 6, 4))
    asked = await client.post(
        "/v1/loans/GONE/write-off",
        json={"reason": "deceased"},
        headers=token("collections_agent", sub="amy"),
    )
    assert asked.status_code == 201, asked.text
    approved = await client.post(
        f"/v1/servicing-requests/{asked.json()['id']}/approve",
        json={"comment": "ok"},
        headers=token("credit_manager", sub="carol"),
    )
    assert approved.status_code == 200, approved.text
    await days.run(date(2024, 6, 4), date(2024, 6, 4))
    case = await _case(client, token, case_id)
    assert (case["status"], case["closed_on"], case["close_reason"]) == (
        "closed",
        "2024-06-04",
        "loan_inactive",
    )
    assert [t["status"] for t in case["tasks"]] == ["cancelled"]
    assert (await _queue(client, token))["total"] == 0
