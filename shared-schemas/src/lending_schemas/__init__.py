"""Versioned event contract between the LOS and the LMS."""

__version__ = "1.0.0"

from typing import TYPE_CHECKING, Any

from lending_schemas.base import EventModel, parse_version
from lending_schemas.envelope import CloudEvent, KafkaRecord, from_kafka, to_kafka
from lending_schemas.errors import (
    ContractError,
    ContractViolationError,
    EnvelopeError,
    UnknownEventTypeError,
    UnknownVersionError,
)
from lending_schemas.events import (
    EVENT_MODELS,
    make_event,
    model_for,
    parse_event,
    registered_models,
)
from lending_schemas.primitives import CurrencyCode, DecimalString
from lending_schemas.topics import TOPICS, Topic, all_topic_names, get_topic, topic_for_event
from lending_schemas.v1 import (
    FeeV1,
    LoanBookedV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
    ScheduleSummaryV1,
)
from lending_schemas.v1.loan_servicing import (
    AllocationSummaryV1,
    LoanClosedV1,
    LoanDelinquencyChangedV1,
    LoanPaidOffV1,
    LoanScheduleChangedV1,
    LoanWrittenOffV1,
    OutstandingV1,
    RepaymentReceivedV1,
    RepaymentReversedV1,
)

if TYPE_CHECKING:
    from lending_schemas.asyncapi import build_asyncapi
    from lending_schemas.compat import Incompatibility, check_all, check_compatibility

# Tooling modules load lazily so `python -m lending_schemas.compat` runs them exactly once.
_LAZY = {
    "build_asyncapi": "lending_schemas.asyncapi",
    "Incompatibility": "lending_schemas.compat",
    "check_all": "lending_schemas.compat",
    "check_compatibility": "lending_schemas.compat",
}


def __getattr__(name: str) -> Any:
    """Resolve tooling names on first use instead of at package import."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lending_schemas' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_MODELS",
    "TOPICS",
    "AllocationSummaryV1",
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
]
