"""Backward-transitive compatibility check of current models against committed schema snapshots.

A new reader must accept everything any earlier writer of the same major could have sent,
so every change is judged from the old schema's point of view.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lending_schemas.base import EventModel, parse_version
from lending_schemas.events import registered_models

__all__ = [
    "INCOMPATIBILITY_CODES",
    "SNAPSHOT_DIR",
    "Incompatibility",
    "check_all",
    "check_compatibility",
    "main",
    "render_snapshot",
    "schema_for",
    "snapshot_path",
    "snapshot_versions",
    "write_snapshots",
]

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"

#: Stable codes; CI output and tests key on these.
INCOMPATIBILITY_CODES: frozenset[str] = frozenset(
    {
        "removed_field",
        "new_required_field",
        "changed_type",
        "removed_enum_value",
        "narrowed_constraint",
        "added_constraint",
        "changed_pattern",
        "changed_format",
        "unresolvable_ref",
        "missing_snapshot",
        "snapshot_mismatch",
        "version_regressed",
    }
)

_ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "default", "deprecated"})
_COMPOSITE = ("anyOf", "oneOf")
_UPPER_LENGTHS = ("maxLength", "maxItems", "maxProperties")
_LOWER_LENGTHS = ("minLength", "minItems", "minProperties")
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a new schema cannot read data written under an old one."""

    code: str
    path: str
    message: str
    context: str = ""

    def __str__(self) -> str:
        """Render one CI-friendly line."""
        prefix = f"{self.context}: " if self.context else ""
        return f"{prefix}{self.path}: [{self.code}] {self.message}"


@dataclass(frozen=True, slots=True)
class _Branch:
    """One alternative of a (possibly union) schema, narrowed to a single JSON type."""

    type: str | None
    schema: dict[str, Any]


def _json_type(value: Any) -> str:
    """JSON type name of an enum/const value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _value_key(value: Any) -> str:
    """Comparison key that keeps ``1`` and ``true`` apart."""
    return json.dumps(value, sort_keys=True)


def _child(path: str, name: str) -> str:
    """JSON path of a property, bracket-quoted when it is not an identifier."""
    if name.isidentifier():
        return f"{path}.{name}"
    return f"{path}[{json.dumps(name)}]"


class _Checker:
    """Walks an old and a new schema in parallel, collecting incompatibilities."""

    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any]) -> None:
        """Remember the roots so ``$ref`` pointers resolve against the right document."""
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[Incompatibility] = []
        self._seen: set[tuple[str, str]] = set()

    def report(self, code: str, path: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Incompatibility(code=code, path=path, message=message))

    def resolve(
        self, node: dict[str, Any], root: dict[str, Any], path: str
    ) -> tuple[dict[str, Any], str | None]:
        """Inline ``$ref`` and ``allOf`` so comparison sees the effective schema."""
        ref_name: str | None = None
        for _ in range(_MAX_DEPTH):
            if "$ref" in node:
                ref = node["$ref"]
                target = self._pointer(root, ref)
                if target is None:
                    self.report("unresolvable_ref", path, f"cannot resolve $ref {ref!r}")
                    return {}, ref
                ref_name = ref
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                node = {**target, **siblings}
                continue
            if "allOf" in node:
                merged = {k: v for k, v in node.items() if k != "allOf"}
                for part in node["allOf"]:
                    merged = {**part, **merged}
                node = merged
                continue
            return node, ref_name
        self.report("unresolvable_ref", path, "$ref chain too deep")
        return {}, ref_name

    @staticmethod
    def _pointer(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
        """Follow a local JSON pointer such as ``#/$defs/FeeV1``."""
        if not ref.startswith("#"):
            return None
        node: Any = root
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, dict) else None

    def branches(self, node: dict[str, Any], root: dict[str, Any], path: str) -> list[_Branch]:
        """Flatten unions and multi-type schemas into single-type branches."""
        node, _ = self.resolve(node, root, path)
        for key in _COMPOSITE:
            if key in node:
                siblings = {k: v for k, v in node.items() if k not in _COMPOSITE}
                result: list[_Branch] = []
                for part in node[key]:
                    resolved, _ = self.resolve(part, root, path)
                    result.extend(self.branches({**siblings, **resolved}, root, path))
                return result
        declared = node.get("type")
        if "const" in node:
            values: list[Any] | None = [node["const"]]
        else:
            values = node.get("enum")
        if isinstance(declared, str):
            types: list[str | None] = [declared]
        elif isinstance(declared, list):
            types = list(declared)
        elif values is not None:
            types = [*sorted({_json_type(v) for v in values})]
        elif "properties" in node or "additionalProperties" in node:
            types = ["object"]
        elif "items" in node or "prefixItems" in node:
            types = ["array"]
        else:
            types = [None]
        out: list[_Branch] = []
        for type_name in types:
            schema = {k: v for k, v in node.items() if k not in ("type", "const", "enum")}
            if values is not None:
                schema["enum"] = [
                    v
                    for v in values
                    if type_name is None
                    or _json_type(v) == type_name
                    or (type_name == "number" and _json_type(v) == "integer")
                ]
            out.append(_Branch(type=type_name, schema=schema))
        return out

    def compare(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int = 0) -> None:
        """Compare two schemas at one location."""
        if depth > _MAX_DEPTH:
            return
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if old_ref is not None and new_ref is not None:
            pair = (old_ref, new_ref)
            if pair in self._seen:
                return
            self._seen.add(pair)
        old_branches = self.branches(old, self.old_root, path)
        new_branches = self.branches(new, self.new_root, path)
        for branch in old_branches:
            match = self._match(branch, new_branches)
            if match is None:
                new_types = sorted({b.type or "any" for b in new_branches})
                self.report(
                    "changed_type",
                    path,
                    f"values of type {branch.type or 'any'} are no longer accepted "
                    f"(now {'|'.join(new_types) or 'nothing'})",
                )
                continue
            self._compare_branch(branch, match, path, depth)
        if old_ref is not None and new_ref is not None:
            self._seen.discard((old_ref, new_ref))

    @staticmethod
    def _match(branch: _Branch, candidates: list[_Branch]) -> _Branch | None:
        """Find the new branch that must accept this old branch's values."""
        for candidate in candidates:
            if candidate.type is None:
                return candidate
        for candidate in candidates:
            if candidate.type == branch.type:
                return candidate
        if branch.type == "integer":
            for candidate in candidates:
                if candidate.type == "number":
                    return candidate
        return None

    def _compare_branch(self, old: _Branch, new: _Branch, path: str, depth: int) -> None:
        """Compare constraints of two same-typed branches."""
        if new.type is None and not _constraining(new.schema):
            return
        o, n = old.schema, new.schema
        self._compare_enum(o, n, path)
        self._compare_bounds(o, n, path)
        self._compare_misc(o, n, path)
        if new.type == "object" or (new.type is None and "properties" in n):
            self._compare_object(o, n, path, depth)
        if new.type == "array" or (new.type is None and "items" in n):
            self._compare_array(o, n, path, depth)

    def _compare_enum(self, o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        """Every value allowed before must still be allowed."""
        if "enum" not in n:
            return
        if "enum" not in o:
            self.report("added_constraint", path, "an enum/const restriction was added")
            return
        new_values = {_value_key(v) for v in n["enum"]}
        for value in o["enum"]:
            if _value_key(value) not in new_values:
                self.report("removed_enum_value", path, f"value {value!r} is no longer allowed")

    def _compare_bounds(self, o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        """Upper bounds may only rise and lower bounds only fall."""
        for key in _UPPER_LENGTHS:
            self._bound(o.get(key), n.get(key), key, path, upper=True)
        for key in _LOWER_LENGTHS:
            self._bound(o.get(key), n.get(key), key, path, upper=False)
        old_max, new_max = _effective(o, "maximum"), _effective(n, "maximum")
        old_min, new_min = _effective(o, "minimum"), _effective(n, "minimum")
        self._numeric_bound(old_max, new_max, "maximum", path, upper=True)
        self._numeric_bound(old_min, new_min, "minimum", path, upper=False)

    def _bound(self, old: Any, new: Any, key: str, path: str, *, upper: bool) -> None:
        """Compare a simple integer bound such as ``maxLength``."""
        if new is None or (not upper and new == 0):
            return
        if old is None:
            self.report("added_constraint", path, f"{key} {new} was added")
        elif (upper and new < old) or (not upper and new > old):
            self.report("narrowed_constraint", path, f"{key} changed from {old} to {new}")

    def _numeric_bound(
        self,
        old: tuple[Decimal, bool] | None,
        new: tuple[Decimal, bool] | None,
        key: str,
        path: str,
        *,
        upper: bool,
    ) -> None:
        """Compare inclusive/exclusive numeric bounds as one effective limit."""
        if new is None:
            return
        new_value, new_exclusive = new
        label = f"{'exclusive ' if new_exclusive else ''}{key} {new_value}"
        if old is None:
            self.report("added_constraint", path, f"{label} was added")
            return
        old_value, old_exclusive = old
        tighter = new_value < old_value if upper else new_value > old_value
        same_but_exclusive = new_value == old_value and new_exclusive and not old_exclusive
        if tighter or same_but_exclusive:
            old_label = f"{'exclusive ' if old_exclusive else ''}{key} {old_value}"
            self.report("narrowed_constraint", path, f"{old_label} became {label}")

    def _compare_misc(self, o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        """Pattern, format, multipleOf and uniqueItems must not tighten."""
        if "pattern" in n:
            if "pattern" not in o:
                self.report("added_constraint", path, f"pattern {n['pattern']!r} was added")
            elif o["pattern"] != n["pattern"]:
                self.report(
                    "changed_pattern",
                    path,
                    f"pattern changed from {o['pattern']!r} to {n['pattern']!r}",
                )
        if "format" in n:
            if "format" not in o:
                self.report("added_constraint", path, f"format {n['format']!r} was added")
            elif o["format"] != n["format"]:
                self.report(
                    "changed_format",
                    path,
                    f"format changed from {o['format']!r} to {n['format']!r}",
                )
        if "multipleOf" in n:
            if "multipleOf" not in o:
                self.report("added_constraint", path, f"multipleOf {n['multipleOf']} was added")
            elif not _divides(n["multipleOf"], o["multipleOf"]):
                self.report(
                    "narrowed_constraint",
                    path,
                    f"multipleOf changed from {o['multipleOf']} to {n['multipleOf']}",
                )
        if n.get("uniqueItems") is True and o.get("uniqueItems") is not True:
            self.report("added_constraint", path, "uniqueItems was added")

    def _compare_object(self, o: dict[str, Any], n: dict[str, Any], path: str, depth: int) -> None:
        """Fields may be added as optional; none may vanish or become required."""
        old_props: dict[str, Any] = o.get("properties", {})
        new_props: dict[str, Any] = n.get("properties", {})
        old_required = set(o.get("required", []))
        new_required = set(n.get("required", []))
        for name, old_schema in old_props.items():
            child = _child(path, name)
            if name not in new_props:
                self.report("removed_field", child, f"field {name!r} was removed")
                continue
            self.compare(old_schema, new_props[name], child, depth + 1)
            if name in new_required and name not in old_required:
                self.report("new_required_field", child, f"optional field {name!r} became required")
        for name in new_props:
            if name not in old_props and name in new_required:
                self.report(
                    "new_required_field",
                    _child(path, name),
                    f"required field {name!r} was added; old events do not carry it",
                )
        old_extra = o.get("additionalProperties", True)
        new_extra = n.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            self.report("added_constraint", path, "additionalProperties: false was added")
        elif isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.compare(old_extra, new_extra, f"{path}.*", depth + 1)
        elif isinstance(new_extra, dict) and old_extra is True and _constraining(new_extra):
            self.report("added_constraint", f"{path}.*", "additional properties were restricted")

    def _compare_array(self, o: dict[str, Any], n: dict[str, Any], path: str, depth: int) -> None:
        """Array items must stay readable."""
        old_prefix: list[Any] = o.get("prefixItems", [])
        new_prefix: list[Any] = n.get("prefixItems", [])
        for index, (old_item, new_item) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(old_item, new_item, f"{path}[{index}]", depth + 1)
        old_items = o.get("items")
        new_items = n.get("items")
        if isinstance(new_items, dict):
            if isinstance(old_items, dict):
                self.compare(old_items, new_items, f"{path}[*]", depth + 1)
            elif _constraining(new_items):
                self.report("added_constraint", f"{path}[*]", "array items were restricted")


def _constraining(schema: dict[str, Any]) -> bool:
    """Whether a schema restricts anything beyond annotations."""
    return any(key not in _ANNOTATIONS for key in schema)


def _effective(schema: dict[str, Any], key: str) -> tuple[Decimal, bool] | None:
    """Combine ``minimum``/``exclusiveMinimum`` (or the maximum pair) into one limit."""
    exclusive_key = "exclusive" + key[0].upper() + key[1:]
    inclusive = schema.get(key)
    exclusive = schema.get(exclusive_key)
    candidates: list[tuple[Decimal, bool]] = []
    if isinstance(inclusive, int | float) and not isinstance(inclusive, bool):
        candidates.append((Decimal(str(inclusive)), False))
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        candidates.append((Decimal(str(exclusive)), True))
    if not candidates:
        return None
    if key == "maximum":
        return min(candidates, key=lambda c: (c[0], not c[1]))
    return max(candidates, key=lambda c: (c[0], c[1]))


def _divides(new: Any, old: Any) -> bool:
    """Whether every multiple of ``old`` is still a multiple of ``new``."""
    try:
        quotient = Decimal(str(old)) / Decimal(str(new))
    except (InvalidOperation, ZeroDivisionError):
        return False
    return quotient == quotient.to_integral_value()


def check_compatibility(
    old_schema: dict[str, Any], new_schema: dict[str, Any]
) -> list[Incompatibility]:
    """List every way a reader using ``new_schema`` could reject data valid under ``old_schema``."""
    checker = _Checker(old_schema, new_schema)
    checker.compare(old_schema, new_schema, "$")
    return checker.problems


def schema_for(model: type[EventModel]) -> dict[str, Any]:
    """Validation-mode JSON Schema of a model, the form that gets snapshotted."""
    return model.model_json_schema(mode="validation")


def render_snapshot(schema: dict[str, Any]) -> str:
    """Deterministic text for a snapshot file so diffs stay reviewable."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def snapshot_path(event_type: str, version: str, snapshot_dir: Path | None = None) -> Path:
    """Where the snapshot of one event type at one ``major.minor`` lives."""
    return (snapshot_dir or SNAPSHOT_DIR) / event_type / f"{version}.json"


def snapshot_versions(event_type: str, snapshot_dir: Path | None = None) -> list[str]:
    """Committed snapshot versions of an event type, oldest first."""
    folder = (snapshot_dir or SNAPSHOT_DIR) / event_type
    if not folder.is_dir():
        return []
    versions = []
    for file in folder.glob("*.json"):
        try:
            parse_version(file.stem)
        except ValueError:
            continue
        versions.append(file.stem)
    return sorted(versions, key=parse_version)


def _load(path: Path) -> dict[str, Any]:
    """Read a snapshot file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def _strip_annotations(node: Any, *, in_map: bool = False) -> Any:
    """Drop documentation-only keywords so doc edits do not force a version bump."""
    if isinstance(node, dict):
        return {
            key: _strip_annotations(value, in_map=not in_map and key in _SCHEMA_MAPS)
            for key, value in node.items()
            if in_map or key == "default" or key not in _ANNOTATIONS
        }
    if isinstance(node, list):
        return [_strip_annotations(item) for item in node]
    return node


def _default_models() -> tuple[type[EventModel], ...]:
    """Registered models in registry order."""
    return registered_models()


def check_all(
    models: Iterable[type[EventModel]] | None = None, snapshot_dir: Path | None = None
) -> list[Incompatibility]:
    """Check every model against every committed snapshot of its major (backward transitive)."""
    problems: list[Incompatibility] = []
    for model in models if models is not None else _default_models():
        current = schema_for(model)
        major, minor = parse_version(model.version)
        exact = snapshot_path(model.event_type, model.version, snapshot_dir)
        label = f"{model.event_type} {model.version}"
        if not exact.is_file():
            problems.append(
                Incompatibility(
                    code="missing_snapshot",
                    path="$",
                    message=f"no snapshot at {exact}; run `lending-contract-check --write`",
                    context=label,
                )
            )
        elif _strip_annotations(_load(exact)) != _strip_annotations(current):
            problems.append(
                Incompatibility(
                    code="snapshot_mismatch",
                    path="$",
                    message="the model changed without a version bump; bump the minor (or major)",
                    context=label,
                )
            )
        for version in snapshot_versions(model.event_type, snapshot_dir):
            snap_major, snap_minor = parse_version(version)
            if snap_major != major or version == model.version:
                continue
            if snap_minor > minor:
                problems.append(
                    Incompatibility(
                        code="version_regressed",
                        path="$",
                        message=f"snapshot {version} is newer than the model's version",
                        context=label,
                    )
                )
            old = _load(snapshot_path(model.event_type, version, snapshot_dir))
            for problem in check_compatibility(old, current):
                problems.append(
                    Incompatibility(
                        code=problem.code,
                        path=problem.path,
                        message=problem.message,
                        context=f"{label} vs snapshot {version}",
                    )
                )
    return problems


def write_snapshots(
    models: Iterable[type[EventModel]] | None = None, snapshot_dir: Path | None = None
) -> list[Path]:
    """Create the snapshot for each model's current version, never overwriting one."""
    written: list[Path] = []
    for model in models if models is not None else _default_models():
        path = snapshot_path(model.event_type, model.version, snapshot_dir)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:
            handle.write(render_snapshot(schema_for(model)))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: exit 1 and list problems, or 0 with a one-line summary."""
    parser = argparse.ArgumentParser(
        prog="lending-contract-check",
        description="Check event models against committed JSON Schema snapshots.",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="create missing snapshots for current model versions (never overwrites)",
    )
    parser.add_argument("--snapshots", type=Path, default=None, help="snapshot directory")
    args = parser.parse_args(argv)
    snapshot_dir: Path | None = args.snapshots
    if args.write:
        for path in write_snapshots(snapshot_dir=snapshot_dir):
            print(f"wrote {path}")
    problems = check_all(snapshot_dir=snapshot_dir)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} contract problem(s) found", file=sys.stderr)
        return 1
    models = _default_models()
    print(f"contract OK: {len(models)} event model(s) compatible with all committed snapshots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
