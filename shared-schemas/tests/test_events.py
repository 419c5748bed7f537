"""Registry, make_event and parse_event, including version negotiation."""

from datetime import UTC, datetime
from typing import ClassVar

import pytest

from lending_schemas.envelope import CloudEvent, from_kafka, to_kafka
from lending_schemas.errors import (
    ContractViolationError,
    EnvelopeError,
    UnknownEventTypeError,
    UnknownVersionError,
)
from lending_schemas.events import (
    EVENT_MODELS,
    make_event,
    model_for,
    parse_ce_type,
    parse_event,
    registered_models,
)
from lending_schemas.v1 import LoanBookedV1, LoanDisbursedV1
from lending_schemas.v1.application_events import ApplicationDecidedV1, ApplicationSubmittedV1
from lending_schemas.v1.loan_servicing import (
    LoanClosedV1,
    LoanDelinquencyChangedV1,
    LoanPaidOffV1,
    LoanScheduleChangedV1,
    LoanWrittenOffV1,
    RepaymentReceivedV1,
    RepaymentReversedV1,
)


class LoanDisbursedV1_3(LoanDisbursedV1):
    """What a producer on a later minor (1.3) would publish: one more optional field."""

    version: ClassVar[str] = "1.3"
    collateral_ref: str | None = None


class LoanDisbursedV2(LoanDisbursedV1):
    """A major the registry does not know."""

    version: ClassVar[str] = "2.0"


def test_registry_contents():
    assert dict(EVENT_MODELS) == {
        ("LoanDisbursed", 1): LoanDisbursedV1,
        ("LoanBooked", 1): LoanBookedV1,
        ("ApplicationSubmitted", 1): ApplicationSubmittedV1,
        ("ApplicationDecided", 1): ApplicationDecidedV1,
        ("RepaymentReceived", 1): RepaymentReceivedV1,
        ("RepaymentReversed", 1): RepaymentReversedV1,
        ("LoanPaidOff", 1): LoanPaidOffV1,
        ("LoanScheduleChanged", 1): LoanScheduleChangedV1,
        ("LoanDelinquencyChanged", 1): LoanDelinquencyChangedV1,
        ("LoanWrittenOff", 1): LoanWrittenOffV1,
        ("LoanClosed", 1): LoanClosedV1,
    }
    assert registered_models() == (
        ApplicationDecidedV1,
        ApplicationSubmittedV1,
        LoanBookedV1,
        LoanClosedV1,
        LoanDelinquencyChangedV1,
        LoanDisbursedV1,
        LoanPaidOffV1,
        LoanScheduleChangedV1,
        LoanWrittenOffV1,
        RepaymentReceivedV1,
        RepaymentReversedV1,
    )
    assert model_for("LoanDisbursed", 1) is LoanDisbursedV1
    with pytest.raises(TypeError):
        EVENT_MODELS[("X", 1)] = LoanBookedV1  # type: ignore[index]


def test_model_for_errors():
    with pytest.raises(UnknownEventTypeError):
        model_for("LoanRepaid", 1)
    with pytest.raises(UnknownVersionError):
        model_for("LoanDisbursed", 2)


def test_parse_ce_type():
    assert parse_ce_type("lending.LoanBooked.v1") == ("LoanBooked", 1)
    for bad in ("LoanBooked", "lending.LoanBooked.1", "lending.LoanBooked.v0", "other.X.v1"):
        with pytest.raises(UnknownEventTypeError):
            parse_ce_type(bad)


def test_make_event_fields(disbursed):
    event = make_event(disbursed, source="/los", subject=disbursed.loan_id, sequence=3)
    assert event.type == "lending.LoanDisbursed.v1"
    assert event.dataschema == "urn:lending:schema:LoanDisbursed:1.2"
    assert event.specversion == "1.0"
    assert event.datacontenttype == "application/json"
    assert event.subject == "LN-2024-000123"
    assert event.sequence == 3
    assert event.time.tzinfo is not None
    assert len(event.id) == 36
    assert event.data == disbursed.model_dump(mode="json")
    assert event.correlationid is None
    assert event.traceparent is None


def test_make_event_generates_unique_ids(disbursed):
    ids = {
        make_event(disbursed, source="/los", subject=disbursed.loan_id, sequence=1).id
        for _ in range(5)
    }
    assert len(ids) == 5


def test_full_round_trip_through_kafka(disbursed_event, disbursed):
    record = to_kafka(disbursed_event)
    parsed = parse_event(from_kafka(record.value, record.headers))
    assert isinstance(parsed, LoanDisbursedV1)
    assert parsed == disbursed


def test_booked_round_trip(booked):
    event = make_event(booked, source="/lms", subject=booked.loan_id, sequence=1)
    assert event.type == "lending.LoanBooked.v1"
    record = to_kafka(event)
    assert parse_event(from_kafka(record.value, record.headers)) == booked


def test_make_event_rejects_bad_envelope(disbursed):
    with pytest.raises(EnvelopeError) as info:
        make_event(disbursed, source="/los", subject=disbursed.loan_id, sequence=0)
    assert info.value.code == "invalid_envelope"


def test_make_event_requires_subject_to_be_loan_id(disbursed):
    with pytest.raises(ContractViolationError, match="subject"):
        make_event(disbursed, source="/los", subject="LN-OTHER", sequence=1)


def test_make_event_refuses_unknown_major(disbursed):
    payload = LoanDisbursedV2.model_validate(disbursed.model_dump())
    with pytest.raises(UnknownVersionError):
        make_event(payload, source="/los", subject=payload.loan_id, sequence=1)


def test_newer_minor_with_extra_field_parses(disbursed):
    newer = LoanDisbursedV1_3.model_validate(disbursed.model_dump() | {"collateral_ref": "COL-9"})
    event = make_event(newer, source="/los", subject=newer.loan_id, sequence=1)
    assert event.dataschema == "urn:lending:schema:LoanDisbursed:1.3"
    assert event.type == "lending.LoanDisbursed.v1"
    assert event.data["collateral_ref"] == "COL-9"
    record = to_kafka(event)
    parsed = parse_event(from_kafka(record.value, record.headers))
    assert type(parsed) is LoanDisbursedV1
    assert parsed == disbursed
    assert not hasattr(parsed, "collateral_ref")


def test_parse_hand_built_newer_minor(disbursed_event):
    event = disbursed_event.model_copy(
        update={
            "dataschema": "urn:lending:schema:LoanDisbursed:1.7",
            "data": disbursed_event.data | {"brand_new": {"nested": [1, 2]}},
        }
    )
    assert isinstance(parse_event(event), LoanDisbursedV1)


def test_unknown_major_in_type(disbursed_event):
    event = disbursed_event.model_copy(update={"type": "lending.LoanDisbursed.v2"})
    with pytest.raises(UnknownVersionError) as info:
        parse_event(event)
    assert info.value.code == "unknown_version"


def test_unknown_major_in_dataschema(disbursed_event):
    event = disbursed_event.model_copy(
        update={"dataschema": "urn:lending:schema:LoanDisbursed:2.0"}
    )
    with pytest.raises(UnknownVersionError):
        parse_event(event)


def test_unknown_event_type(disbursed_event):
    for ce_type in ("lending.LoanRepaid.v1", "com.example.thing"):
        event = disbursed_event.model_copy(update={"type": ce_type})
        with pytest.raises(UnknownEventTypeError) as info:
            parse_event(event)
        assert info.value.code == "unknown_event_type"


@pytest.mark.parametrize(
    "dataschema",
    [
        "urn:lending:schema:LoanBooked:1.0",
        "urn:lending:schema:LoanDisbursed",
        "https://example.invalid/schema.json",
        "urn:lending:schema:LoanDisbursed:01.0",
    ],
)
def test_inconsistent_dataschema(disbursed_event, dataschema):
    event = disbursed_event.model_copy(update={"dataschema": dataschema})
    with pytest.raises(ContractViolationError):
        parse_event(event)


def test_contract_violation_lists_fields(disbursed_event):
    data = dict(disbursed_event.data)
    data["principal"] = 10000.5
    data["currency"] = "eur"
    del data["term"]
    event = disbursed_event.model_copy(update={"data": data})
    with pytest.raises(ContractViolationError) as info:
        parse_event(event)
    err = info.value
    assert err.code == "contract_violation"
    for field in ("principal", "currency", "term"):
        assert field in str(err)
    assert len(err.field_errors) == 3
    assert isinstance(err.__cause__, ValueError)


def test_subject_must_match_loan_id(disbursed_event):
    event = disbursed_event.model_copy(update={"subject": "LN-OTHER"})
    with pytest.raises(ContractViolationError, match="subject"):
        parse_event(event)


def test_fixed_time_and_ids_are_used(disbursed):
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = make_event(
        disbursed,
        source="/los",
        subject=disbursed.loan_id,
        sequence=1,
        event_id="e-1",
        time=when,
        correlation_id="c-1",
        traceparent="t-1",
    )
    assert (event.id, event.time, event.correlationid, event.traceparent) == (
        "e-1",
        when,
        "c-1",
        "t-1",
    )
    assert isinstance(event, CloudEvent)


def test_subject_follows_the_models_subject_field():
    """Application events are keyed by application id, loan events by loan id."""
    from lending_schemas.examples import example_application_decided_v1

    decided = example_application_decided_v1()
    event = make_event(decided, source="/los", subject=decided.application_id, sequence=1)
    assert event.subject == "APP-2024-004567"
    with pytest.raises(ContractViolationError, match="application_id"):
        make_event(decided, source="/los", subject="LN-1", sequence=1)
