"""LoanDisbursed 1.2: the optional `settles_loan_id` (a renewal or top-up pays an existing loan
off first). A backward-compatible minor: events written under 1.0 and 1.1 still read, a 1.2
event still validates against the older snapshots (old consumers ignore the new field), and
the field survives the trip through Kafka both ways."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError

from lending_schemas import LoanDisbursedV1
from lending_schemas.compat import SNAPSHOT_DIR, check_compatibility
from lending_schemas.envelope import from_kafka, to_kafka
from lending_schemas.events import make_event, parse_event
from lending_schemas.examples import example_loan_disbursed_v1

pytestmark = pytest.mark.contract

EXAMPLES = Path(__file__).resolve().parent / "examples" / "LoanDisbursed"


def _snapshot(version: str) -> dict:
    return json.loads((SNAPSHOT_DIR / "LoanDisbursed" / f"{version}.json").read_text())


def _validator(version: str) -> Draft202012Validator:
    return Draft202012Validator(_snapshot(version), format_checker=FormatChecker())


def _record(version: str):
    doc = json.loads((EXAMPLES / f"{version}.json").read_text())
    headers = [(name, value.encode()) for name, value in doc["headers"].items()]
    return doc, json.dumps(doc["value"]).encode(), headers


def test_the_model_is_minor_1_2_and_the_checker_accepts_it_against_1_0_and_1_1():
    assert LoanDisbursedV1.version == "1.2"
    current = _snapshot("1.2")
    for older in ("1.0", "1.1"):
        assert check_compatibility(_snapshot(older), current) == [], older
    # The new field is optional: an old writer never sends it.
    assert "settles_loan_id" not in current.get("required", [])
    assert "settles_loan_id" in current["properties"]
    assert "settles_loan_id" not in _snapshot("1.1")["properties"]


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_events_written_under_older_minors_still_parse_without_the_field(version):
    doc, value, headers = _record(version)
    assert "settles_loan_id" not in doc["value"]
    event = parse_event(from_kafka(value, headers))
    assert isinstance(event, LoanDisbursedV1)
    assert event.settles_loan_id is None
    assert event.loan_id == doc["value"]["loan_id"]


def test_a_1_2_record_round_trips_with_the_field():
    _doc, value, headers = _record("1.2")
    envelope = from_kafka(value, headers)
    assert envelope.dataschema == "urn:lending:schema:LoanDisbursed:1.2"
    event = parse_event(envelope)
    assert isinstance(event, LoanDisbursedV1)
    assert event.settles_loan_id == "LN-2024-000123"
    # Producing it again (as the LOS would) carries the field and validates against 1.2.
    again = make_event(event, source="/los", subject=event.loan_id, sequence=1)
    record = to_kafka(again)
    body = json.loads(record.value)
    assert body["settles_loan_id"] == "LN-2024-000123"
    assert list(_validator("1.2").iter_errors(body)) == []
    assert parse_event(from_kafka(record.value, record.headers)) == event


@pytest.mark.parametrize("older", ["1.0", "1.1"])
def test_a_1_2_event_is_still_valid_for_consumers_on_older_snapshots(older):
    payload = example_loan_disbursed_v1(loan_id="LN-NEW", settles_loan_id="LN-OLD")
    body = json.loads(
        to_kafka(make_event(payload, source="/los", subject="LN-NEW", sequence=1)).value
    )
    assert body["settles_loan_id"] == "LN-OLD"
    assert list(_validator(older).iter_errors(body)) == []


def test_a_1_2_event_without_the_field_is_what_1_1_sent():
    payload = example_loan_disbursed_v1()
    assert payload.settles_loan_id is None
    body = json.loads(
        to_kafka(make_event(payload, source="/los", subject=payload.loan_id, sequence=1)).value
    )
    assert body["settles_loan_id"] is None
    assert list(_validator("1.1").iter_errors(body)) == []
    assert list(_validator("1.2").iter_errors(body)) == []


@pytest.mark.parametrize("bad", ["", 123, ["LN-1"]])
def test_the_snapshot_and_the_model_refuse_a_blank_or_non_string_reference(bad):
    doc, _, _ = _record("1.2")
    body = copy.deepcopy(doc["value"]) | {"settles_loan_id": bad}
    assert list(_validator("1.2").iter_errors(body))
    with pytest.raises(ValidationError):
        LoanDisbursedV1.model_validate(body)


def test_a_loan_cannot_settle_itself():
    with pytest.raises(ValidationError, match="settles_loan_id must name another loan"):
        example_loan_disbursed_v1(loan_id="LN-SAME", settles_loan_id="LN-SAME")
