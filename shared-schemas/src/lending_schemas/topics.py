"""Kafka topic registry, so producers, consumers and docs agree on names and keys."""

from __future__ import annotations

from dataclasses import dataclass

from lending_schemas.errors import UnknownEventTypeError, UnknownVersionError

__all__ = [
    "TOPICS",
    "Topic",
    "all_topic_names",
    "get_topic",
    "topic_for_event",
]


@dataclass(frozen=True, slots=True)
class Topic:
    """One Kafka topic, its ownership and its dead-letter companion."""

    name: str
    partitions: int
    key: str
    event_types: tuple[str, ...]
    producer: str
    consumers: tuple[str, ...]
    dead_letter: str
    description: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        name="lending.loan-disbursed.v1",
        partitions=6,
        key="loan_id",
        event_types=("lending.LoanDisbursed.v1",),
        producer="los",
        consumers=("lms",),
        dead_letter="lending.loan-disbursed.v1.dlt",
        description="The LOS announces a disbursed loan so the LMS can book it.",
    ),
    Topic(
        name="lending.loan-booked.v1",
        partitions=6,
        key="loan_id",
        event_types=("lending.LoanBooked.v1",),
        producer="lms",
        consumers=("los",),
        dead_letter="lending.loan-booked.v1.dlt",
        description="The LMS confirms a booking and whether it matches the offer.",
    ),
    Topic(
        name="lending.application-events.v1",
        partitions=6,
        key="application_id",
        event_types=("lending.ApplicationSubmitted.v1", "lending.ApplicationDecided.v1"),
        producer="los",
        consumers=(),
        dead_letter="lending.application-events.v1.dlt",
        description="The LOS announces submitted applications and their decisions.",
    ),
    Topic(
        name="lending.loan-servicing.v1",
        partitions=6,
        key="loan_id",
        event_types=(
            "lending.RepaymentReceived.v1",
            "lending.RepaymentReversed.v1",
            "lending.LoanPaidOff.v1",
            "lending.LoanScheduleChanged.v1",
            "lending.LoanDelinquencyChanged.v1",
            "lending.LoanWrittenOff.v1",
            "lending.LoanClosed.v1",
        ),
        producer="lms",
        consumers=(),
        dead_letter="lending.loan-servicing.v1.dlt",
        description="The LMS announces repayments, reversals, payoffs, schedule changes, "
        "delinquency changes, write-offs and closures.",
    ),
)


def topic_for_event(event_type: str, major: int) -> Topic:
    """Find the single topic that carries an event type at a major version."""
    ce_type = f"lending.{event_type}.v{major}"
    for topic in TOPICS:
        if ce_type in topic.event_types:
            return topic
    if any(t.startswith(f"lending.{event_type}.v") for topic in TOPICS for t in topic.event_types):
        raise UnknownVersionError(f"no topic carries {event_type} v{major}")
    raise UnknownEventTypeError(f"no topic carries event type {event_type!r}")


def all_topic_names() -> list[str]:
    """Every topic to provision, each followed by its dead-letter topic."""
    names: list[str] = []
    for topic in TOPICS:
        names.extend((topic.name, topic.dead_letter))
    return names


def get_topic(name: str) -> Topic:
    """Look up a main topic by name; dead-letter names are not topics of their own."""
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"unknown topic {name!r}")
