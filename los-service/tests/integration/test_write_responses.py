"""Write responses are built from what the request committed, not read back afterwards.

Create, submit, review, accept and disburse answer with the application as their own
transaction left it (intake and submit without reading it back at all). Whatever the
route does to save queries, the answer must be exactly what a fresh read returns.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.integration.helpers import (
    AGENT_SUB,
    append_to_trail_elsewhere,
    application_body,
    create_applicant,
)

pytestmark = pytest.mark.integration

APPROVE: dict[str, str] = {}
# The same figures as test_applications: DTI in the refer band, and above the decline limit.
REFER = {"monthly_income": "3000.00", "monthly_obligations": "1000.00"}
DECLINE = {"monthly_income": "2000.00", "monthly_obligations": "1500.00"}


async def _same_as_read(client: httpx.AsyncClient, response: httpx.Response, headers: Any) -> None:
    assert response.status_code in (200, 201), response.text
    written = response.json()
    read = await client.get(f"/v1/applications/{written['id']}", headers=headers)
    assert read.status_code == 200, read.text
    assert written == read.json()


@pytest.mark.parametrize(
    ("figures", "product", "expected"),
    [
        (APPROVE, "PL-STD", "approved"),
        (APPROVE, "ST-WEEKLY", "approved"),
        (REFER, "PL-STD", "referred"),
        (DECLINE, "PL-STD", "declined"),
    ],
)
async def test_intake_and_decision_answer_what_a_read_returns(
    client: httpx.AsyncClient, auth: Any, figures: dict[str, str], product: str, expected: str
) -> None:
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    overrides: dict[str, Any] = dict(figures)
    if product == "ST-WEEKLY":
        overrides |= {"requested_amount": "1000.00", "term": 12}
    created = await client.post(
        "/v1/applications",
        json=application_body(applicant_id, product_code=product, **overrides),
        headers=agent,
    )
    await _same_as_read(client, created, agent)
    app_id = created.json()["id"]
    submitted = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert submitted.json()["status"] == expected
    await _same_as_read(client, submitted, agent)
    if expected != "approved":
        return
    accepted = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    await _same_as_read(client, accepted, agent)
    manager = auth("credit_manager", sub="cm-cleo")
    disbursed = await client.post(f"/v1/applications/{app_id}/disburse", headers=manager)
    assert disbursed.json()["status"] == "disbursed"
    await _same_as_read(client, disbursed, manager)


async def test_referred_then_reviewed_answers_what_a_read_returns(
    client: httpx.AsyncClient, auth: Any
) -> None:
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    created = await client.post(
        "/v1/applications", json=application_body(applicant_id, **REFER), headers=agent
    )
    app_id = created.json()["id"]
    submitted = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert (submitted.json()["status"], submitted.json()["pending_stage"]) == (
        "referred",
        "underwriter",
    )
    await _same_as_read(client, submitted, agent)
    reviewed = await client.post(
        f"/v1/applications/{app_id}/reviews",
        json={"outcome": "approve", "comment": "Verified payslips."},
        headers=auth("underwriter", sub="uw-bob"),
    )
    assert reviewed.json()["status"] == "approved"
    await _same_as_read(client, reviewed, agent)
    accepted = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    await _same_as_read(client, accepted, agent)


class Statements:
    """The SQL statements the app's engine runs while recording (SQLAlchemy engine events)."""

    def __init__(self, app: Any) -> None:
        self.engine = app.state.engine.sync_engine
        self.seen: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def reads_of(self, table: str) -> int:
        """SELECT statements that read the table."""
        return sum(
            1 for s in self.seen if s.upper().startswith("SELECT") and f"FROM {table} " in s + " "
        )


async def test_accept_and_disburse_read_the_application_once(
    app: Any, client: httpx.AsyncClient, auth: Any
) -> None:
    # The answer comes from the use case's own transaction: no read of the application (or
    # of its decision and offer) after the commit.
    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    created = await client.post(
        "/v1/applications", json=application_body(applicant_id), headers=agent
    )
    app_id = created.json()["id"]
    submitted = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert submitted.json()["status"] == "approved"
    manager = auth("credit_manager", sub="cm-cleo")
    for path, headers in (("offer/accept", agent), ("disburse", manager)):
        with Statements(app) as statements:
            response = await client.post(f"/v1/applications/{app_id}/{path}", headers=headers)
        assert response.status_code == 200, response.text
        assert statements.reads_of("applications") == 1, statements.seen
        assert statements.reads_of("offers") == 0, statements.seen  # joined to the application
        assert statements.reads_of("decisions") == 0, statements.seen


async def test_audit_chain_shortcuts_cannot_fork_a_chain(app: Any) -> None:
    from datetime import UTC, datetime

    from los.domain.audit import GENESIS_HASH
    from los.domain.errors import ConcurrentUpdateError
    from los.service.audit import record

    at = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
    async with app.state.uow_factory() as uow:
        first = await record(
            uow.session, "application:x", actor="a", action="one", at=at, new_stream=True
        )
        second = await record(
            uow.session, "application:x", actor="a", action="two", at=at, previous=first
        )
        third = await record(uow.session, "application:x", actor="a", action="three", at=at)
        assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
        assert (second.seq, second.prev_hash) == (2, first.hash)
        assert (third.seq, third.prev_hash) == (3, second.hash)
        with pytest.raises(ValueError, match="not of stream"):
            await record(uow.session, "application:y", actor="a", action="x", at=at, previous=first)
        await uow.commit()
    # (stream, seq) is unique: no second first record, and a head read before someone else
    # appended (here: the second record's) cannot be followed twice. Either is the lost race
    # of two writers: 409 concurrent_update, as a stale version is.
    async with app.state.uow_factory() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await record(
                uow.session, "application:x", actor="a", action="again", at=at, new_stream=True
            )
    async with app.state.uow_factory() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await record(
                uow.session,
                "application:x",
                actor="a",
                action="stale",
                at=at,
                head=(second.seq, second.hash),
            )
    async with app.state.uow_factory() as uow:
        fourth = await record(
            uow.session,
            "application:x",
            actor="a",
            action="four",
            at=at,
            head=(third.seq, third.hash),
        )
        assert (fourth.seq, fourth.prev_hash) == (4, third.hash)


async def test_a_record_appended_after_the_read_makes_the_change_lose(
    client: httpx.AsyncClient, auth: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accept reads the audit chain head with the application. A document upload appends
    to the same stream without touching the application row; if one lands between that
    read and accept's own record, accept answers 409 and writes nothing: the chain holds."""
    from datetime import UTC, datetime

    from los.adapters.repository import ApplicationRepository

    agent = auth("applicant_agent", sub=AGENT_SUB)
    applicant_id = await create_applicant(client, agent)
    created = await client.post(
        "/v1/applications", json=application_body(applicant_id), headers=agent
    )
    app_id = created.json()["id"]
    submitted = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert submitted.json()["status"] == "approved"
    original = ApplicationRepository.get_for_change

    async def read_then_someone_appends(repo: Any, application_id: str, stream: str) -> Any:
        found = await original(repo, application_id, stream)
        await append_to_trail_elsewhere(
            app, application_id, datetime(2025, 3, 10, 9, 31, tzinfo=UTC)
        )
        return found

    monkeypatch.setattr(ApplicationRepository, "get_for_change", read_then_someone_appends)
    lost = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert lost.status_code == 409, lost.text
    assert lost.json()["code"] == "concurrent_update"
    monkeypatch.undo()
    got = (await client.get(f"/v1/applications/{app_id}", headers=agent)).json()
    assert got["status"] == "approved"
    assert got["offer"]["accepted_at"] is None
    auditor = auth("auditor", sub="aud-ann")
    trail = (await client.get(f"/v1/applications/{app_id}/audit", headers=auditor)).json()
    assert trail["chain_valid"] is True
    assert [i["action"] for i in trail["items"]][-1] == "document_uploaded"
    # Read again, the same request goes through.
    again = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "accepted"
