"""Every alert rule names metrics the services export and links a runbook section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import lms.bootstrap  # noqa: F401 - registers whatever the LMS adds
import los.metrics  # noqa: F401 - registers the LOS gauges
from servicekit.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile", "absent",
    "by", "without", "or", "and", "unless", "time", "le", "bool", "offset", "clamp_min",
    "delta", "deriv", "irate", "changes", "resets", "humanizeDuration", "on", "ignoring",
}  # fmt: skip


def _exported_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{part}" for part in ("bucket", "sum", "count"))
    return names


def _metrics_in(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_groups = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_labels)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_groups)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_ranges))
    return {w for w in words if w not in PROMQL_WORDS}


def _rules() -> list[dict]:
    document = yaml.safe_load((ROOT / "deploy/prometheus/rules.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_uses_exported_metrics():
    exported = _exported_names()
    rules = _rules()
    assert len(rules) >= 10
    for rule in rules:
        unknown = _metrics_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} uses metrics no service exports: {unknown}"


def test_every_alert_links_an_existing_runbook_section():
    runbook = (ROOT / "docs/RUNBOOK.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("## ")
    }
    for rule in _rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/RUNBOOK.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no runbook section {url}"
