"""Servicing configuration shipped with the service: per-product rules with a default entry."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lms.domain.servicing import OverpaymentPolicy

DEFAULT_KEY = "default"


@dataclass(frozen=True, slots=True)
class ServicingRules:
    """How one product is serviced."""

    overpayment: OverpaymentPolicy


def parse_rules(document: dict[str, Any]) -> dict[str, ServicingRules]:
    """Validate the TOML document; a bad policy name fails at start-up, not on a payment."""
    if DEFAULT_KEY not in document:
        raise ValueError("servicing.toml needs a [default] entry")
    rules: dict[str, ServicingRules] = {}
    for code, entry in document.items():
        if not isinstance(entry, dict):
            raise ValueError(f"servicing.toml entry {code!r} must be a table")
        try:
            policy = OverpaymentPolicy(entry.get("overpayment", "hold_credit"))
        except ValueError:
            raise ValueError(
                f"servicing.toml entry {code!r}: unknown overpayment {entry.get('overpayment')!r}"
            ) from None
        rules[code] = ServicingRules(overpayment=policy)
    return rules


@cache
def servicing_rules() -> dict[str, ServicingRules]:
    """The shipped rules, read once."""
    text = resources.files("lms.products").joinpath("servicing.toml").read_text()
    return parse_rules(tomllib.loads(text))


def rules_for(product_code: str) -> ServicingRules:
    """The product's rules, or the default entry."""
    rules = servicing_rules()
    return rules.get(product_code, rules[DEFAULT_KEY])
