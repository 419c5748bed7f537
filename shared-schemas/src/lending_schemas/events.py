"""Registry of event models by (event type, major) and the build/parse entry points."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from pydantic import ValidationError

from lending_schemas.base import EventModel, parse_version
from lending_schemas.envelope import CloudEvent
from lending_schemas.errors import (
    ContractViolationError,
    EnvelopeError,
    UnknownEventTypeError,
    UnknownVersionError,
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

__all__ = [
    "EVENT_MODELS",
    "make_event",
    "model_for",
    "parse_ce_type",
    "parse_dataschema",
    "parse_event",
    "registered_models",
]

_CE_TYPE_RE = re.compile(r"lending\.([A-Za-z][A-Za-z0-9]*)\.v([1-9][0-9]*)", re.ASCII)
_DATASCHEMA_RE = re.compile(r"urn:lending:schema:([A-Za-z][A-Za-z0-9]*):([0-9]+\.[0-9]+)", re.ASCII)

_REGISTRY: dict[tuple[str, int], type[EventModel]] = {}

#: Read-only view of the registry: ``(event_type, major) -> model``.
EVENT_MODELS: Mapping[tuple[str, int], type[EventModel]] = MappingProxyType(_REGISTRY)


def _register(model: type[EventModel]) -> None:
    """Add a model, refusing two models for the same type and major."""
    key = (model.event_type, model.major())
    if key in _REGISTRY:
        raise ValueError(f"{model.event_type} v{model.major()} is already registered")
    _REGISTRY[key] = model


_model: type[EventModel]
for _model in (LoanDisbursedV1, LoanBookedV1):
    _register(_model)
for _model in (ApplicationSubmittedV1, ApplicationDecidedV1):
    _register(_model)
for _model in (RepaymentReceivedV1, RepaymentReversedV1, LoanPaidOffV1, LoanScheduleChangedV1):
    _register(_model)
_register(LoanDelinquencyChangedV1)
_register(LoanWrittenOffV1)
_register(LoanClosedV1)


def registered_models() -> tuple[type[EventModel], ...]:
    """Every current model, in a stable order for generators and checkers."""
    return tuple(_REGISTRY[key] for key in sorted(_REGISTRY))


def model_for(event_type: str, major: int) -> type[EventModel]:
    """Look up the model for a type and major, with errors consumers can route on."""
    model = _REGISTRY.get((event_type, major))
    if model is not None:
        return model
    if any(known == event_type for known, _ in _REGISTRY):
        known_majors = sorted(m for t, m in _REGISTRY if t == event_type)
        raise UnknownVersionError(
            f"{event_type} has no major version {major} (known: {known_majors})"
        )
    raise UnknownEventTypeError(f"unknown event type {event_type!r}")


def parse_ce_type(ce_type: str) -> tuple[str, int]:
    """Split ``lending.<EventType>.v<major>`` into its parts."""
    match = _CE_TYPE_RE.fullmatch(ce_type)
    if match is None:
        raise UnknownEventTypeError(
            f"CloudEvents type {ce_type!r} is not 'lending.<EventType>.v<major>'"
        )
    return match[1], int(match[2])


def parse_dataschema(dataschema: str) -> tuple[str, tuple[int, int]]:
    """Split ``urn:lending:schema:<EventType>:<major>.<minor>`` into its parts."""
    match = _DATASCHEMA_RE.fullmatch(dataschema)
    if match is None:
        raise ContractViolationError(
            f"dataschema {dataschema!r} is not 'urn:lending:schema:<EventType>:<major>.<minor>'"
        )
    try:
        version = parse_version(match[2])
    except ValueError as exc:
        raise ContractViolationError(str(exc)) from exc
    return match[1], version


def _violation(model: type[EventModel], exc: ValidationError) -> ContractViolationError:
    """Turn a pydantic error into a contract error that lists every failing field."""
    field_errors = tuple(
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors()
    )
    return ContractViolationError(
        f"{model.event_type} v{model.major()} payload violates the contract: "
        + "; ".join(field_errors),
        field_errors=field_errors,
    )


def parse_event(event: CloudEvent) -> EventModel:
    """Validate an event's data against the registered model for its type and major."""
    event_type, major = parse_ce_type(event.type)
    model = model_for(event_type, major)
    schema_type, (schema_major, _minor) = parse_dataschema(event.dataschema)
    if schema_type != event_type:
        raise ContractViolationError(
            f"dataschema names {schema_type!r} but the type is {event_type!r}"
        )
    if schema_major != major:
        if (event_type, schema_major) not in _REGISTRY:
            raise UnknownVersionError(
                f"dataschema {event.dataschema!r} has unknown major version {schema_major}"
            )
        raise ContractViolationError(
            f"dataschema major {schema_major} disagrees with type {event.type!r}"
        )
    try:
        payload = model.model_validate(event.data)
    except ValidationError as exc:
        raise _violation(model, exc) from exc
    _check_subject(payload, event.subject)
    return payload


def _check_subject(payload: EventModel, subject: str) -> None:
    """The subject is the Kafka key; it must be the model's subject field (the loan id by
    default) or per-aggregate ordering breaks."""
    field = type(payload).subject_field
    key = getattr(payload, field, None)
    if key is not None and key != subject:
        raise ContractViolationError(f"subject {subject!r} differs from payload {field} {key!r}")


def make_event(
    payload: EventModel,
    *,
    source: str,
    subject: str,
    sequence: int,
    event_id: str | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Wrap a payload in a CloudEvent, proving it survives serialisation and parsing."""
    model = type(payload)
    registered = model_for(model.event_type, model.major())
    data = payload.model_dump(mode="json")
    try:
        reparsed = model.model_validate(data)
    except ValidationError as exc:
        raise _violation(model, exc) from exc
    if reparsed != payload:
        raise ContractViolationError(
            f"{model.__name__} does not survive a JSON round trip unchanged"
        )
    try:
        event = CloudEvent(
            id=event_id if event_id is not None else str(uuid.uuid4()),
            source=source,
            type=registered.ce_type(),
            time=time if time is not None else datetime.now(UTC),
            subject=subject,
            dataschema=model.dataschema(),
            sequence=sequence,
            traceparent=traceparent,
            correlationid=correlation_id,
            data=data,
        )
    except ValidationError as exc:
        raise EnvelopeError(
            f"invalid CloudEvent attributes: {exc}", code="invalid_envelope"
        ) from exc
    # What parse_event would check on the way in; the type and dataschema come from the
    # model itself, so only a different registered class or the subject can disagree.
    if registered is not model:
        try:
            registered.model_validate(data)
        except ValidationError as exc:
            raise _violation(registered, exc) from exc
    _check_subject(reparsed, subject)
    return event
