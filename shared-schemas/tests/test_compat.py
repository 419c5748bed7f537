"""The compatibility checker must catch every breaking change and allow optional additions."""

import copy
import json
from typing import Annotated, ClassVar, Literal

import pytest
from pydantic import Field

from lending_schemas.compat import (
    INCOMPATIBILITY_CODES,
    check_all,
    check_compatibility,
    main,
    render_snapshot,
    schema_for,
    snapshot_path,
    snapshot_versions,
    write_snapshots,
)
from lending_schemas.v1 import LoanBookedV1, LoanDisbursedV1


def _base():
    return schema_for(LoanDisbursedV1)


def _codes(old, new):
    return {(p.code, p.path) for p in check_compatibility(old, new)}


def test_identical_schemas_are_compatible():
    assert check_compatibility(_base(), _base()) == []


def test_added_optional_field_is_fine():
    new = _base()
    new["properties"]["collateral_ref"] = {"type": "string"}
    assert check_compatibility(_base(), new) == []


def test_added_optional_nested_field_is_fine():
    new = _base()
    new["$defs"]["FeeV1"]["properties"]["tax"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert check_compatibility(_base(), new) == []


def test_removed_field():
    new = _base()
    del new["properties"]["product_code"]
    new["required"].remove("product_code")
    assert _codes(_base(), new) == {("removed_field", "$.product_code")}


def test_removed_nested_field_via_ref():
    new = _base()
    del new["$defs"]["PenaltyTermsV1"]["properties"]["grace_days"]
    assert ("removed_field", "$.penalty.grace_days") in _codes(_base(), new)


def test_renamed_field_is_removed_plus_added():
    new = _base()
    new["properties"]["borrower_ref"] = new["properties"].pop("party_ref")
    new["required"] = [("borrower_ref" if r == "party_ref" else r) for r in new["required"]]
    assert _codes(_base(), new) == {
        ("removed_field", "$.party_ref"),
        ("new_required_field", "$.borrower_ref"),
    }


def test_changed_type():
    new = _base()
    new["properties"]["term"] = {"type": "string"}
    assert _codes(_base(), new) == {("changed_type", "$.term")}


def test_money_to_number_is_a_type_change():
    new = _base()
    new["$defs"]["FeeV1"]["properties"]["amount"] = {"type": "number"}
    assert ("changed_type", "$.fees[*].amount") in _codes(_base(), new)


def test_optional_losing_null_is_a_type_change():
    new = _base()
    new["$defs"]["PromisedTermsV1"]["properties"]["apr"] = {
        "type": "string",
        "pattern": r"^-?\d+(\.\d+)?$",
    }
    assert _codes(_base(), new) == {("changed_type", "$.promised.apr")}


def test_widening_type_is_fine():
    new = _base()
    new["properties"]["term"] = {"type": "number", "minimum": 1}
    new["properties"]["loan_id"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert check_compatibility(_base(), new) == []


def test_new_required_field():
    new = _base()
    new["properties"]["branch_code"] = {"type": "string"}
    new["required"].append("branch_code")
    assert _codes(_base(), new) == {("new_required_field", "$.branch_code")}


def test_optional_field_becoming_required():
    new = _base()
    new["required"].append("grace_principal_periods")
    assert _codes(_base(), new) == {("new_required_field", "$.grace_principal_periods")}


def test_removed_enum_value():
    new = _base()
    new["$defs"]["FeeV1"]["properties"]["treatment"]["enum"] = ["deducted", "financed"]
    assert _codes(_base(), new) == {("removed_enum_value", "$.fees[*].treatment")}


def test_added_enum_value_is_fine():
    new = _base()
    new["$defs"]["FeeV1"]["properties"]["treatment"]["enum"].append("waived")
    assert check_compatibility(_base(), new) == []


def test_const_to_other_const():
    new = _base()
    new["properties"]["amortization"] = {"const": "bullet", "type": "string"}
    assert _codes(_base(), new) == {("removed_enum_value", "$.amortization")}


@pytest.mark.parametrize(
    ("where", "schema", "code"),
    [
        ("loan_id", {"type": "string", "minLength": 1, "maxLength": 10}, "added_constraint"),
        ("loan_id", {"type": "string", "minLength": 3}, "narrowed_constraint"),
        ("term", {"type": "integer", "minimum": 2}, "narrowed_constraint"),
        ("term", {"type": "integer", "exclusiveMinimum": 1}, "narrowed_constraint"),
        ("term", {"type": "integer", "minimum": 1, "maximum": 360}, "added_constraint"),
        ("term", {"type": "integer", "minimum": 1, "multipleOf": 3}, "added_constraint"),
        ("currency", {"type": "string", "pattern": "^(EUR|USD)$"}, "changed_pattern"),
        ("party_ref", {"type": "string", "minLength": 1, "pattern": "^p"}, "added_constraint"),
        ("disbursement_date", {"type": "string", "format": "date-time"}, "changed_format"),
        ("product_code", {"type": "string", "minLength": 1, "enum": ["A"]}, "added_constraint"),
    ],
)
def test_narrowed_constraints(where, schema, code):
    new = _base()
    new["properties"][where] = schema
    assert _codes(_base(), new) == {(code, f"$.{where}")}


def test_lowered_maximum_and_max_length():
    old = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "maximum": 10},
            "s": {"type": "string", "maxLength": 5},
        },
    }
    new = copy.deepcopy(old)
    new["properties"]["n"]["maximum"] = 9
    new["properties"]["s"]["maxLength"] = 4
    assert _codes(old, new) == {("narrowed_constraint", "$.n"), ("narrowed_constraint", "$.s")}
    # Relaxing is fine.
    assert check_compatibility(new, old) == []


def test_array_constraints_and_closed_objects():
    old = {"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "string"}}}}
    new = copy.deepcopy(old)
    new["properties"]["xs"]["maxItems"] = 3
    new["properties"]["xs"]["uniqueItems"] = True
    new["additionalProperties"] = False
    assert _codes(old, new) == {("added_constraint", "$.xs"), ("added_constraint", "$")}


def test_unresolvable_ref():
    new = _base()
    new["properties"]["penalty"] = {"$ref": "#/$defs/Missing"}
    assert ("unresolvable_ref", "$.penalty") in _codes(_base(), new)


def test_recursive_schemas_terminate():
    node = {
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "$ref": "#/$defs/N",
    }
    assert check_compatibility(node, copy.deepcopy(node)) == []


def test_codes_are_stable():
    assert {
        "removed_field",
        "new_required_field",
        "changed_type",
        "removed_enum_value",
        "narrowed_constraint",
        "added_constraint",
        "changed_pattern",
    } <= INCOMPATIBILITY_CODES


# --- the same checks driven by real models --------------------------------------------------


class AddsOptional(LoanDisbursedV1):
    version: ClassVar[str] = "1.3"
    collateral_ref: str | None = None


class NarrowsTerm(LoanDisbursedV1):
    version: ClassVar[str] = "1.3"
    term: Annotated[int, Field(strict=True, ge=1, le=60)]


class DropsTreatment(LoanDisbursedV1):
    version: ClassVar[str] = "1.3"
    interest_basis: Literal["equal_periods"]


class AddsRequired(LoanDisbursedV1):
    version: ClassVar[str] = "1.3"
    branch_code: str


def test_model_level_checks():
    base = schema_for(LoanDisbursedV1)
    assert check_compatibility(base, schema_for(AddsOptional)) == []
    assert _codes(base, schema_for(NarrowsTerm)) == {("added_constraint", "$.term")}
    assert _codes(base, schema_for(DropsTreatment)) == {("removed_enum_value", "$.interest_basis")}
    assert _codes(base, schema_for(AddsRequired)) == {("new_required_field", "$.branch_code")}


# --- check_all, snapshots and the CLI --------------------------------------------------------


def test_committed_snapshots_are_current():
    assert check_all() == []
    for model in (LoanDisbursedV1, LoanBookedV1):
        path = snapshot_path(model.event_type, model.version)
        assert path.read_text() == render_snapshot(schema_for(model))


def test_render_snapshot_format():
    text = render_snapshot({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


def test_missing_snapshot_and_write(tmp_path):
    problems = check_all([LoanDisbursedV1], tmp_path)
    assert [p.code for p in problems] == ["missing_snapshot"]
    written = write_snapshots([LoanDisbursedV1], tmp_path)
    assert written == [tmp_path / "LoanDisbursed" / "1.2.json"]
    assert check_all([LoanDisbursedV1], tmp_path) == []
    assert write_snapshots([LoanDisbursedV1], tmp_path) == []


def test_write_never_overwrites(tmp_path):
    path = tmp_path / "LoanDisbursed" / "1.2.json"
    path.parent.mkdir()
    path.write_text('{"type": "object"}\n')
    assert write_snapshots([LoanDisbursedV1], tmp_path) == []
    assert path.read_text() == '{"type": "object"}\n'
    assert [p.code for p in check_all([LoanDisbursedV1], tmp_path)] == ["snapshot_mismatch"]


def test_backward_transitive(tmp_path):
    write_snapshots([LoanDisbursedV1, AddsOptional], tmp_path)
    assert snapshot_versions("LoanDisbursed", tmp_path) == ["1.2", "1.3"]

    class DropsCollateral(LoanDisbursedV1):
        version: ClassVar[str] = "1.4"

    write_snapshots([DropsCollateral], tmp_path)
    problems = check_all([DropsCollateral], tmp_path)
    assert [(p.code, p.path, p.context) for p in problems] == [
        ("removed_field", "$.collateral_ref", "LoanDisbursed 1.4 vs snapshot 1.3")
    ]
    assert "collateral_ref" in str(problems[0])


def test_other_majors_are_not_compared(tmp_path):
    write_snapshots([LoanDisbursedV1], tmp_path)
    (tmp_path / "LoanDisbursed" / "2.0.json").write_text(json.dumps({"type": "string"}))
    assert check_all([LoanDisbursedV1], tmp_path) == []


def test_version_regressed(tmp_path):
    write_snapshots([AddsOptional], tmp_path)
    write_snapshots([LoanDisbursedV1], tmp_path)
    codes = [p.code for p in check_all([LoanDisbursedV1], tmp_path)]
    assert "version_regressed" in codes


def test_doc_only_changes_do_not_need_a_bump(tmp_path):
    write_snapshots([LoanDisbursedV1], tmp_path)
    path = tmp_path / "LoanDisbursed" / "1.2.json"
    schema = json.loads(path.read_text())
    schema["description"] = "reworded"
    schema["properties"]["party_ref"]["description"] = "reworded too"
    path.write_text(render_snapshot(schema))
    assert check_all([LoanDisbursedV1], tmp_path) == []


def test_cli_success(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("contract OK")


def test_cli_failure_and_write(tmp_path, capsys):
    assert main(["--snapshots", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "[missing_snapshot]" in out
    assert main(["--snapshots", str(tmp_path), "--write"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out
    assert (tmp_path / "LoanBooked" / "1.0.json").is_file()
    assert (tmp_path / "LoanDisbursed" / "1.2.json").is_file()
