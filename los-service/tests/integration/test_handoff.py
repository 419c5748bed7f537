"""LoanBooked through the inbox, dead letters, the outbox transaction and reconciliation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from lending_schemas import LoanBookedV1, ScheduleSummaryV1, make_event, to_kafka
from los.workers.consumers import handle_loan_booked
from servicekit.inbox import InboxProcessor, Message
from servicekit.metrics import REGISTRY
from servicekit.tables import INBOX, OUTBOX
from tests.integration.helpers import AGENT_SUB, append_to_trail_elsewhere, create_application

pytestmark = pytest.mark.integration

TOPIC = "lending.loan-booked.v1"


class DeadLetters:
    """Records what the processor dead-letters."""

    def __init__(self) -> None:
        self.calls: list[tuple[Message, str, str, int]] = []

    async def __call__(self, message: Message, code: str, reason: str, attempts: int) -> None:
        self.calls.append((message, code, reason, attempts))


async def _disbursed(client, auth, clock) -> tuple[str, str, dict]:
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    assert (
        await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    ).status_code == 200
    offer = (await client.get(f"/v1/applications/{app_id}/offer", headers=agent)).json()
    assert (
        await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    ).status_code == 200
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("credit_manager"))
    assert r.status_code == 200, r.text
    return app_id, r.json()["loan_id"], offer


def _booked(loan_id: str, app_id: str, offer: dict, clock, **schedule_overrides) -> LoanBookedV1:
    schedule = {
        "installment_amount": Decimal(offer["installment_amount"]),
        "total_repayable": Decimal(offer["total_repayable"]),
        "total_interest": Decimal(offer["total_interest"]),
        "installments": offer["term"],
        "first_due_date": offer["first_due_date"],
        "last_due_date": offer["last_due_date"],
    }
    schedule.update(schedule_overrides)
    return LoanBookedV1(
        loan_id=loan_id,
        application_id=app_id,
        booked_at=clock.now() + timedelta(seconds=5),
        schedule=ScheduleSummaryV1(**schedule),
        matches_offer=True,
        mismatches=[],
    )


def _message(event: LoanBookedV1, offset: int = 0, event_id: str | None = None) -> Message:
    record = to_kafka(
        make_event(event, source="/lms", subject=event.loan_id, sequence=1, event_id=event_id)
    )
    return Message(TOPIC, 0, offset, record.key, record.value, record.headers)


def _processor(app, dead: DeadLetters, max_attempts: int = 1) -> InboxProcessor:
    return InboxProcessor(
        "los",
        app.state.uow_factory,
        {"LoanBooked": handle_loan_booked},
        dead_letter=dead,
        max_attempts=max_attempts,
        backoff_initial_s=0.0,
    )


async def test_loan_booked_fills_handoff_and_duplicates_change_nothing(client, auth, app, clock):
    app_id, loan_id, offer = await _disbursed(client, auth, clock)
    dead = DeadLetters()
    processor = _processor(app, dead)
    message = _message(_booked(loan_id, app_id, offer, clock))

    assert await processor.process(message) == "processed"
    first = (await client.get(f"/v1/applications/{app_id}", headers=auth("auditor"))).json()
    assert first["status"] == "booked"
    assert first["handoff"]["booked_at"] == "2025-03-10T09:30:05Z"
    assert first["handoff"]["schedule_matches_offer"] is True
    assert first["handoff"]["mismatches"] == []

    assert await processor.process(message) == "duplicate"
    # A different event about the same booking (a re-publish with a new id) is harmless too.
    assert (
        await processor.process(_message(_booked(loan_id, app_id, offer, clock), offset=1))
        == "processed"
    )
    again = (await client.get(f"/v1/applications/{app_id}", headers=auth("auditor"))).json()
    assert again == first
    assert dead.calls == []
    async with app.state.uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(INBOX)) == 2
    trail = (await client.get(f"/v1/applications/{app_id}/audit", headers=auth("auditor"))).json()
    booked = [i for i in trail["items"] if i["action"] == "loan_booked"]
    assert len(booked) == 1  # the duplicate and the re-publish added nothing
    assert booked[0]["actor"] == "lms"
    assert booked[0]["after"]["schedule_matches_offer"] is True
    assert trail["chain_valid"] is True


async def test_a_record_appended_after_the_read_is_a_retry_not_a_fork(
    client, auth, app, clock, monkeypatch
):
    """Recording LoanBooked reads the audit chain head with the application. If another
    record lands on the stream between that read and the booking's own record, the attempt
    fails and is retried; the retry reads the new head and the chain stays whole."""
    from los.adapters.repository import ApplicationRepository

    app_id, loan_id, offer = await _disbursed(client, auth, clock)
    original = ApplicationRepository.get_by_loan_id_with_offer
    raced: list[str] = []

    async def read_then_someone_appends(repo, loan):
        found = await original(repo, loan)
        if not raced:
            raced.append(loan)
            await append_to_trail_elsewhere(app, app_id, clock.now())
        return found

    monkeypatch.setattr(
        ApplicationRepository, "get_by_loan_id_with_offer", read_then_someone_appends
    )
    dead = DeadLetters()
    processor = _processor(app, dead, max_attempts=3)
    assert await processor.process(_message(_booked(loan_id, app_id, offer, clock))) == "processed"
    assert raced == [loan_id]
    assert dead.calls == []
    trail = (await client.get(f"/v1/applications/{app_id}/audit", headers=auth("auditor"))).json()
    assert [i["action"] for i in trail["items"]][-2:] == ["document_uploaded", "loan_booked"]
    assert trail["chain_valid"] is True


async def test_schedule_mismatch_is_detected_by_the_los(client, auth, app, clock):
    app_id, loan_id, offer = await _disbursed(client, auth, clock)
    wrong = Decimal(offer["installment_amount"]) + Decimal("0.01")
    # The LMS claims a match, but its installment differs: the LOS's own check catches it.
    event = _booked(loan_id, app_id, offer, clock, installment_amount=wrong)
    assert await _processor(app, DeadLetters()).process(_message(event)) == "processed"
    got = (await client.get(f"/v1/applications/{app_id}", headers=auth("auditor"))).json()
    assert got["status"] == "booked"
    assert got["handoff"]["schedule_matches_offer"] is False
    assert got["handoff"]["mismatches"] == ["installment_amount"]

    r = await client.get("/v1/handoff/reconciliation", headers=auth("auditor"))
    body = r.json()
    assert body["mismatched_count"] == 1
    assert body["mismatched"][0]["loan_id"] == loan_id
    assert body["mismatched"][0]["mismatches"] == ["installment_amount"]
    assert REGISTRY.get_sample_value("los_handoff_mismatched") == 1


async def test_lms_reported_mismatch_is_kept(client, auth, app, clock):
    app_id, loan_id, offer = await _disbursed(client, auth, clock)
    event = _booked(loan_id, app_id, offer, clock).model_copy(
        update={"matches_offer": False, "mismatches": ["apr"]}
    )
    assert await _processor(app, DeadLetters()).process(_message(event)) == "processed"
    got = (await client.get(f"/v1/applications/{app_id}", headers=auth("auditor"))).json()
    assert got["handoff"]["schedule_matches_offer"] is False
    assert got["handoff"]["mismatches"] == ["apr"]


async def test_unknown_loan_is_dead_lettered(app, clock):
    dead = DeadLetters()
    event = LoanBookedV1(
        loan_id="no-such-loan",
        application_id="no-such-application",
        booked_at=clock.now(),
        schedule=ScheduleSummaryV1(
            installment_amount=Decimal("10.00"),
            total_repayable=Decimal("60.00"),
            total_interest=Decimal("0"),
            installments=6,
            first_due_date="2025-04-10",
            last_due_date="2025-09-10",
        ),
        matches_offer=True,
    )
    assert await _processor(app, dead).process(_message(event)) == "dead_lettered"
    assert len(dead.calls) == 1
    _, code, reason, _ = dead.calls[0]
    assert code == "unknown_loan"
    assert "no-such-loan" in reason
    async with app.state.uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(INBOX)) == 0


async def test_reconciliation_lists_unbooked_past_threshold(client, auth, clock):
    app_id, loan_id, _ = await _disbursed(client, auth, clock)
    reader = auth("finance")
    r = await client.get("/v1/handoff/reconciliation", headers=reader)
    assert r.status_code == 200
    assert r.json()["unbooked_count"] == 0  # just disbursed, within the 300 s default
    clock.advance(timedelta(seconds=301))
    body = (await client.get("/v1/handoff/reconciliation", headers=reader)).json()
    assert body["older_than_s"] == 300
    assert body["unbooked_count"] == 1
    item = body["unbooked"][0]
    assert (item["application_id"], item["loan_id"], item["age_s"]) == (app_id, loan_id, 301)
    assert item["disbursed_at"] == "2025-03-10T09:30:00Z"
    assert REGISTRY.get_sample_value("los_handoff_unbooked") == 1
    metrics_text = (await client.get("/metrics")).text
    assert "los_handoff_unbooked 1.0" in metrics_text
    body = (
        await client.get(
            "/v1/handoff/reconciliation", params={"older_than_s": 3600}, headers=reader
        )
    ).json()
    assert body["unbooked_count"] == 0


# Submission also stages application events; these tests are about LoanDisbursed only.
_DISBURSED = OUTBOX.c.event_type == "lending.LoanDisbursed.v1"


@pytest.mark.parametrize("failure", ["after_staging", "invalid_payload"])
async def test_disbursement_and_outbox_commit_together(client, auth, app, monkeypatch, failure):
    """If anything fails once the event is staged, neither the status nor the event persists."""
    from los.service import applications as use_cases

    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)
    await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)

    if failure == "after_staging":
        real_stage = use_cases.stage_event

        async def stage_then_fail(session, payload, **kwargs):
            await real_stage(session, payload, **kwargs)
            assert (
                await session.scalar(select(func.count()).select_from(OUTBOX).where(_DISBURSED))
                == 1
            )
            raise RuntimeError("crash after staging")

        monkeypatch.setattr(use_cases, "stage_event", stage_then_fail)
    else:
        real_build = use_cases.loan_disbursed_event

        def invalid(product, offer, disbursement):
            good = real_build(product, offer, disbursement)
            # Bypass validation so the outbox's contract check is what refuses it.
            return type(good).model_construct(**{**dict(good), "net_disbursed": good.principal + 1})

        monkeypatch.setattr(use_cases, "loan_disbursed_event", invalid)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
        r = await raw.post(f"/v1/applications/{app_id}/disburse", headers=auth("finance"))
    assert r.status_code == 500
    monkeypatch.undo()

    got = (await client.get(f"/v1/applications/{app_id}", headers=agent)).json()
    assert got["status"] == "accepted"
    assert got["loan_id"] is None
    assert got["handoff"]["disbursed_at"] is None
    async with app.state.uow_factory() as uow:
        assert (
            await uow.session.scalar(select(func.count()).select_from(OUTBOX).where(_DISBURSED))
            == 0
        )

    # And with nothing failing the same disbursement goes through with its one event.
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("finance"))
    assert r.status_code == 200
    async with app.state.uow_factory() as uow:
        assert (
            await uow.session.scalar(select(func.count()).select_from(OUTBOX).where(_DISBURSED))
            == 1
        )
