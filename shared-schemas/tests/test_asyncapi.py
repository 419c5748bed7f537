"""AsyncAPI generation and the dependency-free YAML emitter."""

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_schemas.asyncapi import build_asyncapi, dump_yaml, main, render_asyncapi
from lending_schemas.envelope import REQUIRED_HEADERS
from lending_schemas.topics import TOPICS, all_topic_names


def test_document_shape():
    doc = build_asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    addresses = sorted(ch["address"] for ch in doc["channels"].values())
    assert addresses == sorted(all_topic_names())
    for channel in doc["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == channel["address"]
        assert kafka["partitions"] == 6
    messages = doc["components"]["messages"]
    assert {
        "LoanDisbursedV1",
        "LoanBookedV1",
        "ApplicationSubmittedV1",
        "ApplicationDecidedV1",
    } <= set(messages)
    for message in messages.values():
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        headers_ref = message["headers"]["$ref"].rsplit("/", 1)[1]
        headers = doc["components"]["schemas"][headers_ref]
        assert set(REQUIRED_HEADERS) <= set(headers["required"])
        assert "ce_traceparent" in headers["properties"]


def test_operations_follow_producers_and_consumers():
    ops = build_asyncapi()["operations"]
    actions = {(op["tags"][0]["name"], op["action"], op["channel"]["$ref"]) for op in ops.values()}
    for topic in TOPICS:
        assert any(a[0] == topic.producer and a[1] == "send" for a in actions)
        for consumer in topic.consumers:
            assert any(a[0] == consumer and a[1] == "receive" for a in actions)
    assert len(ops) == sum(1 + 2 * len(t.consumers) for t in TOPICS)


def test_all_refs_resolve():
    doc = build_asyncapi()

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for ref in refs(doc):
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref


def test_rendered_yaml_parses_back():
    text = render_asyncapi()
    assert text.startswith("# Generated")
    assert yaml.safe_load(text) == build_asyncapi()


def test_cli_write_and_check(tmp_path, capsys):
    out = tmp_path / "asyncapi.yaml"
    assert main(["--check", "--output", str(out)]) == 1
    assert main(["--write", "--output", str(out)]) == 0
    assert main(["--check", "--output", str(out)]) == 0
    assert out.read_text() == render_asyncapi()
    capsys.readouterr()
    assert main([]) == 0
    assert capsys.readouterr().out == render_asyncapi()


def test_yaml_edge_cases():
    doc = {
        "empty_map": {},
        "empty_list": [],
        "nested": [[1, 2], [], {"a": None}],
        "tricky": ["yes", "No", "null", "~", "1.0", "0x10", "#x", "a: b", "- x", "", " pad "],
        "unicode": "zażółć \u2028 \x85 \ufeff \U0001f600 \x7f",
        "floats": [1.5, 1e100, -2.0, 1e-7],
        "bools": [True, False],
    }
    assert yaml.safe_load(dump_yaml(doc)) == doc
    assert dump_yaml({}) == "{}\n"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=15)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=5))
def test_yaml_round_trip_property(doc):
    assert yaml.safe_load(dump_yaml(doc)) == (doc or {})
