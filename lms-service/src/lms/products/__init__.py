"""Servicing configuration shipped with the service: per-product rules with a default entry."""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from lms.domain.cob import NON_PERFORMING_DAYS
from lms.domain.collections import DunningRule, parse_dunning
from lms.domain.delinquency import DEFAULT_BUCKETS, Bucket
from lms.domain.servicing import OverpaymentPolicy

DEFAULT_KEY = "default"


@dataclass(frozen=True, slots=True)
class ServicingRules:
    """How one product is serviced."""

    overpayment: OverpaymentPolicy
    buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    non_performing_days: int = NON_PERFORMING_DAYS
    # Dunning rules per delinquency bucket (collections' contact tasks).
    dunning: Mapping[str, tuple[DunningRule, ...]] = field(default_factory=dict)


def _parse_buckets(code: str, value: Any) -> tuple[Bucket, ...]:
    """`buckets = [["current", 0], ["1-30", 30], ..., ["90+"]]`: ascending bounds, last open."""
    if value is None:
        return DEFAULT_BUCKETS
    if not isinstance(value, list) or not value:
        raise ValueError(f"servicing.toml entry {code!r}: buckets must be a non-empty list")
    buckets: list[Bucket] = []
    for item in value:
        if not isinstance(item, list) or not 1 <= len(item) <= 2 or not isinstance(item[0], str):
            raise ValueError(f"servicing.toml entry {code!r}: bad bucket {item!r}")
        bound = item[1] if len(item) == 2 else None
        if bound is not None and (not isinstance(bound, int) or bound < 0):
            raise ValueError(f"servicing.toml entry {code!r}: bad bucket bound {bound!r}")
        buckets.append(Bucket(item[0], bound))
    bounds = [b.up_to for b in buckets[:-1] if b.up_to is not None]
    if buckets[-1].up_to is not None or len(bounds) != len(buckets) - 1:
        raise ValueError(f"servicing.toml entry {code!r}: only the last bucket is unbounded")
    if bounds[:1] != [0] or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"servicing.toml entry {code!r}: bucket bounds must rise from 0")
    return tuple(buckets)


def parse_rules(document: dict[str, Any]) -> dict[str, ServicingRules]:
    """Validate the TOML document; a bad policy name fails at start-up, not on a payment."""
    if DEFAULT_KEY not in document:
        raise ValueError("servicing.toml needs a [default] entry")
    rules: dict[str, ServicingRules] = {}
    default = document[DEFAULT_KEY]
    inherited = default.get("dunning", {}) if isinstance(default, dict) else {}
    for code, entry in document.items():
        if not isinstance(entry, dict):
            raise ValueError(f"servicing.toml entry {code!r} must be a table")
        try:
            policy = OverpaymentPolicy(entry.get("overpayment", "hold_credit"))
        except ValueError:
            raise ValueError(
                f"servicing.toml entry {code!r}: unknown overpayment {entry.get('overpayment')!r}"
            ) from None
        npl = entry.get("non_performing_days", NON_PERFORMING_DAYS)
        if not isinstance(npl, int) or npl <= 0:
            raise ValueError(f"servicing.toml entry {code!r}: bad non_performing_days {npl!r}")
        buckets = _parse_buckets(code, entry.get("buckets"))
        rules[code] = ServicingRules(
            overpayment=policy,
            buckets=buckets,
            non_performing_days=npl,
            dunning=parse_dunning(code, entry.get("dunning", inherited), buckets),
        )
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
