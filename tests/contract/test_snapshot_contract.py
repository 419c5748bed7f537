"""Cross-service contract: the committed snapshots and example records are the source of truth.

Both the LOS (producer of LoanDisbursed) and the LMS (producer of LoanBooked) must emit data
that validates against every committed snapshot of the current major, and must still read the
committed example records.
"""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from lending_schemas import examples
from lending_schemas.compat import (
    SNAPSHOT_DIR,
    check_all,
    render_snapshot,
    schema_for,
    snapshot_versions,
)
from lending_schemas.envelope import from_kafka, to_kafka
from lending_schemas.events import make_event, parse_event, registered_models
from lending_schemas.examples import example_loan_booked_v1, example_loan_disbursed_v1
from lending_schemas.topics import topic_for_event

pytestmark = pytest.mark.contract

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SNAPSHOT_FILES = sorted(SNAPSHOT_DIR.glob("*/*.json"))
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*/*.json"))
PAYLOADS = {
    "LoanDisbursed": example_loan_disbursed_v1,
    "LoanBooked": example_loan_booked_v1,
    "RepaymentReceived": examples.example_repayment_received_v1,
    "RepaymentReversed": examples.example_repayment_reversed_v1,
    "LoanPaidOff": examples.example_loan_paid_off_v1,
    "LoanScheduleChanged": examples.example_loan_schedule_changed_v1,
    "LoanDelinquencyChanged": examples.example_loan_delinquency_changed_v1,
    "LoanWrittenOff": examples.example_loan_written_off_v1,
    "LoanClosed": examples.example_loan_closed_v1,
    "ApplicationSubmitted": examples.example_application_submitted_v1,
    "ApplicationDecided": examples.example_application_decided_v1,
}


def _validator(path: Path) -> Draft202012Validator:
    schema = json.loads(path.read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _record(example_path: Path):
    doc = json.loads(example_path.read_text())
    headers = [(name, value.encode()) for name, value in doc["headers"].items()]
    return doc, json.dumps(doc["value"]).encode(), headers


def test_there_are_snapshots_and_examples():
    assert {p.parent.name for p in SNAPSHOT_FILES} == {m.event_type for m in registered_models()}
    assert {p.parent.name for p in EXAMPLE_FILES} == {p.parent.name for p in SNAPSHOT_FILES}


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_snapshot_is_valid_json_schema_in_canonical_form(path):
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    assert path.read_text() == render_snapshot(schema)


def test_snapshots_match_models_and_checker_is_clean():
    assert check_all() == []
    for model in registered_models():
        current = SNAPSHOT_DIR / model.event_type / f"{model.version}.json"
        assert json.loads(current.read_text()) == schema_for(model)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m.__name__)
def test_current_producer_output_validates_against_every_snapshot_of_its_major(model):
    payload = PAYLOADS[model.event_type]()
    topic = topic_for_event(model.event_type, model.major())
    event = make_event(
        payload,
        source=f"/{topic.producer}",
        subject=getattr(payload, model.subject_field),
        sequence=1,
    )
    body = json.loads(to_kafka(event).value)
    versions = [v for v in snapshot_versions(model.event_type) if v.startswith(f"{model.major()}.")]
    assert versions
    for version in versions:
        errors = list(
            _validator(SNAPSHOT_DIR / model.event_type / f"{version}.json").iter_errors(body)
        )
        assert errors == [], (version, [e.message for e in errors])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_committed_example_records_are_still_readable(path):
    doc, value, headers = _record(path)
    snapshot = SNAPSHOT_DIR / path.parent.name / path.name
    assert list(_validator(snapshot).iter_errors(doc["value"])) == []
    event = from_kafka(value, headers)
    assert event.dataschema == f"urn:lending:schema:{path.parent.name}:{path.stem}"
    parsed = parse_event(event)
    assert parsed.event_type == path.parent.name
    assert event.subject == doc["key"]
    # Re-encoding what we read reproduces the committed record exactly.
    record = to_kafka(event)
    assert record.key.decode() == doc["key"]
    assert {k: v.decode() for k, v in record.headers} == doc["headers"]
    assert json.loads(record.value) == doc["value"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", 10000.0),
        ("principal", 10000),
        ("principal", "1e4"),
        ("currency", "eur"),
        ("term", "12"),
        ("disbursement_date", "01/05/2024"),
        ("amortization", "bullet"),
    ],
)
def test_snapshot_rejects_what_the_model_rejects(field, value):
    doc, _, _ = _record(EXAMPLES_DIR / "LoanDisbursed" / "1.0.json")
    body = copy.deepcopy(doc["value"])
    body[field] = value
    assert list(_validator(SNAPSHOT_DIR / "LoanDisbursed" / "1.0.json").iter_errors(body))


def test_snapshot_requires_core_fields():
    doc, _, _ = _record(EXAMPLES_DIR / "LoanDisbursed" / "1.0.json")
    body = copy.deepcopy(doc["value"])
    del body["loan_id"]
    assert list(_validator(SNAPSHOT_DIR / "LoanDisbursed" / "1.0.json").iter_errors(body))


def test_snapshot_tolerates_added_fields():
    doc, _, _ = _record(EXAMPLES_DIR / "LoanDisbursed" / "1.0.json")
    body = copy.deepcopy(doc["value"]) | {"added_in_a_later_minor": {"x": 1}}
    assert list(_validator(SNAPSHOT_DIR / "LoanDisbursed" / "1.0.json").iter_errors(body)) == []
