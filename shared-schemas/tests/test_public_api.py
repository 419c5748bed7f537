"""The re-exported API is what other services code against; pin it."""

import tomllib
from pathlib import Path

import lending_schemas

EXPECTED_ALL = {
    "EVENT_MODELS",
    "AllocationSummaryV1",
    "TOPICS",
    "CloudEvent",
    "ContractError",
    "ContractViolationError",
    "CurrencyCode",
    "DecimalString",
    "EnvelopeError",
    "EventModel",
    "FeeV1",
    "Incompatibility",
    "KafkaRecord",
    "LoanBookedV1",
    "LoanClosedV1",
    "LoanDelinquencyChangedV1",
    "LoanDisbursedV1",
    "LoanPaidOffV1",
    "LoanScheduleChangedV1",
    "LoanWrittenOffV1",
    "OutstandingV1",
    "PenaltyTermsV1",
    "PromisedTermsV1",
    "RepaymentReceivedV1",
    "RepaymentReversedV1",
    "ScheduleSummaryV1",
    "Topic",
    "UnknownEventTypeError",
    "UnknownVersionError",
    "__version__",
    "all_topic_names",
    "build_asyncapi",
    "check_all",
    "check_compatibility",
    "from_kafka",
    "get_topic",
    "make_event",
    "model_for",
    "parse_event",
    "parse_version",
    "registered_models",
    "to_kafka",
    "topic_for_event",
}


def test_all_is_pinned():
    assert set(lending_schemas.__all__) == EXPECTED_ALL
    assert len(lending_schemas.__all__) == len(EXPECTED_ALL)


def test_every_exported_name_resolves():
    for name in lending_schemas.__all__:
        assert getattr(lending_schemas, name) is not None, name


def test_unknown_attribute_raises():
    try:
        lending_schemas.does_not_exist  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("expected AttributeError")


def test_error_hierarchy():
    for cls in (
        lending_schemas.EnvelopeError,
        lending_schemas.UnknownEventTypeError,
        lending_schemas.UnknownVersionError,
        lending_schemas.ContractViolationError,
    ):
        assert issubclass(cls, lending_schemas.ContractError)
        assert issubclass(cls, ValueError)
    assert lending_schemas.UnknownEventTypeError("x").code == "unknown_event_type"
    assert lending_schemas.UnknownVersionError("x").code == "unknown_version"
    assert lending_schemas.ContractViolationError("x").code == "contract_violation"


def test_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    assert project["version"] == lending_schemas.__version__
    assert project["dependencies"] == ["pydantic>=2.9"]
