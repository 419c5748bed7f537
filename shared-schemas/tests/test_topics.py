"""Topic registry sanity: one topic per event, dead letters, lookups."""

import dataclasses

import pytest

from lending_schemas.errors import UnknownEventTypeError, UnknownVersionError
from lending_schemas.events import registered_models
from lending_schemas.topics import TOPICS, Topic, all_topic_names, get_topic, topic_for_event


def test_topics_as_designed():
    disbursed = get_topic("lending.loan-disbursed.v1")
    assert disbursed == Topic(
        name="lending.loan-disbursed.v1",
        partitions=6,
        key="loan_id",
        event_types=("lending.LoanDisbursed.v1",),
        producer="los",
        consumers=("lms",),
        dead_letter="lending.loan-disbursed.v1.dlt",
        description=disbursed.description,
    )
    booked = get_topic("lending.loan-booked.v1")
    assert (booked.producer, booked.consumers, booked.partitions, booked.key) == (
        "lms",
        ("los",),
        6,
        "loan_id",
    )
    assert booked.dead_letter == "lending.loan-booked.v1.dlt"


def test_every_event_type_has_exactly_one_topic():
    for model in registered_models():
        carriers = [t for t in TOPICS if model.ce_type() in t.event_types]
        assert len(carriers) == 1, model
        assert topic_for_event(model.event_type, model.major()) is carriers[0]


def test_every_topic_event_type_is_registered():
    known = {model.ce_type() for model in registered_models()}
    for topic in TOPICS:
        assert topic.event_types
        assert set(topic.event_types) <= known


def test_dead_letter_names():
    for topic in TOPICS:
        assert topic.dead_letter == f"{topic.name}.dlt"
        assert topic.producer not in topic.consumers
        assert topic.description


def test_all_topic_names():
    assert all_topic_names() == [
        "lending.loan-disbursed.v1",
        "lending.loan-disbursed.v1.dlt",
        "lending.loan-booked.v1",
        "lending.loan-booked.v1.dlt",
        "lending.application-events.v1",
        "lending.application-events.v1.dlt",
        "lending.loan-servicing.v1",
        "lending.loan-servicing.v1.dlt",
    ]
    assert len(set(all_topic_names())) == len(all_topic_names())


def test_lookup_errors():
    with pytest.raises(KeyError):
        get_topic("lending.loan-disbursed.v1.dlt")
    with pytest.raises(UnknownVersionError):
        topic_for_event("LoanDisbursed", 2)
    with pytest.raises(UnknownEventTypeError):
        topic_for_event("LoanRepaid", 1)


def test_topic_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TOPICS[0].partitions = 12  # type: ignore[misc]
    assert hash(TOPICS[0])
