"""Cross-service contract: the committed AsyncAPI document is in sync and self-consistent."""

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from lending_schemas.asyncapi import ASYNCAPI_PATH, build_asyncapi, render_asyncapi
from lending_schemas.compat import SNAPSHOT_DIR
from lending_schemas.events import registered_models
from lending_schemas.topics import TOPICS, all_topic_names

pytestmark = pytest.mark.contract

REPO_FILE = Path(__file__).resolve().parents[2] / "shared-schemas" / "asyncapi.yaml"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@pytest.fixture(scope="module")
def committed():
    return yaml.safe_load(REPO_FILE.read_text())


def _validator(doc, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(schema)


def test_committed_file_is_generated_output():
    assert REPO_FILE.resolve() == ASYNCAPI_PATH
    assert REPO_FILE.read_text() == render_asyncapi(), (
        "shared-schemas/asyncapi.yaml is stale; run `python -m lending_schemas.asyncapi --write`"
    )


def test_committed_file_parses_to_the_model(committed):
    assert committed == build_asyncapi()


def test_channels_cover_every_topic_and_dead_letter(committed):
    assert sorted(c["address"] for c in committed["channels"].values()) == sorted(all_topic_names())
    for topic in TOPICS:
        services = {
            (op["tags"][0]["name"], op["action"])
            for op in committed["operations"].values()
            if op["channel"]["$ref"].endswith("/" + _channel_id(committed, topic.name))
        }
        assert (topic.producer, "send") in services
        for consumer in topic.consumers:
            assert (consumer, "receive") in services


def _channel_id(doc, address):
    return next(cid for cid, ch in doc["channels"].items() if ch["address"] == address)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m.__name__)
def test_payload_schema_equals_snapshot(committed, model):
    snapshot = json.loads((SNAPSHOT_DIR / model.event_type / f"{model.version}.json").read_text())
    defs = snapshot.pop("$defs", {})
    text = json.dumps(snapshot).replace('"#/$defs/', '"#/components/schemas/')
    schemas = committed["components"]["schemas"]
    assert schemas[model.__name__] == json.loads(text)
    for name, definition in defs.items():
        assert schemas[name] == json.loads(
            json.dumps(definition).replace('"#/$defs/', '"#/components/schemas/')
        )


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m.__name__)
def test_example_records_match_message_schemas(committed, model):
    message = committed["components"]["messages"][model.__name__]
    payload_name = message["payload"]["$ref"].rsplit("/", 1)[1]
    headers_name = message["headers"]["$ref"].rsplit("/", 1)[1]
    record = json.loads((EXAMPLES_DIR / model.event_type / f"{model.version}.json").read_text())
    samples = [(record["headers"], record["value"])]
    samples += [(ex["headers"], ex["payload"]) for ex in message["examples"]]
    for headers, payload in samples:
        assert list(_validator(committed, payload_name).iter_errors(payload)) == []
        assert list(_validator(committed, headers_name).iter_errors(headers)) == []


def test_headers_schema_rejects_wrong_type(committed):
    record = json.loads((EXAMPLES_DIR / "LoanDisbursed" / "1.0.json").read_text())
    headers = record["headers"] | {"ce_type": "lending.LoanDisbursed.v2"}
    assert list(_validator(committed, "LoanDisbursedV1Headers").iter_errors(headers))
    del headers["ce_id"]
    assert len(list(_validator(committed, "LoanDisbursedV1Headers").iter_errors(headers))) == 2
