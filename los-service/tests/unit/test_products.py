"""The shipped catalog, and the loader's refusal of bad ones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from los.domain.errors import (
    AmountOutOfRangeError,
    CatalogError,
    TermOutOfRangeError,
    UnknownProductError,
    UnsupportedCurrencyError,
)
from los.domain.products import parse_catalog
from los.products import load_catalog

SHIPPED = load_catalog()


def test_shipped_catalog():
    product = SHIPPED.get("PL-STD")
    assert product.currency == "USD"
    assert (product.min_amount, product.max_amount) == (Decimal("1000.00"), Decimal("50000.00"))
    assert (product.min_term, product.max_term) == (6, 60)
    assert product.rate_for("A") == Decimal("0.0899")
    assert product.rate_for("E") == Decimal("0.2499")
    assert product.allocation_order == ("penalties", "fees", "interest", "principal")
    assert product.penalty.late_fee_flat == Decimal("15.00")
    assert product.penalty.grace_days == 5
    assert (product.max_dti_approve, product.max_dti_refer) == (Decimal("0.40"), Decimal("0.50"))
    (fee,) = product.fees
    assert fee.treatment == "deducted"
    with pytest.raises(UnknownProductError):
        SHIPPED.get("NOPE")


def test_fee_is_clamped():
    fee = SHIPPED.get("PL-STD").fees[0]
    assert fee.amount_for(Decimal("1000.00"), "USD", "half_even") == Decimal(
        "25.00"
    )  # 2 % = 20 < min
    assert fee.amount_for(Decimal("10000.00"), "USD", "half_even") == Decimal("200.00")
    assert fee.amount_for(Decimal("50000.00"), "USD", "half_even") == Decimal(
        "500.00"
    )  # 1000 > max


def test_override_path(tmp_path):
    path = tmp_path / "catalog.toml"
    original = _shipped_text()
    path.write_text(original.replace('code = "PL-STD"', 'code = "PL-ALT"'), "utf-8")
    codes = [p.code for p in load_catalog(path).list()]
    assert "PL-ALT" in codes
    assert "PL-STD" not in codes
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.toml")


def _shipped_text() -> str:
    from importlib import resources

    return resources.files("los.products").joinpath("catalog.toml").read_text("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('catalog_version = "2025.2"', "", "catalog_version"),
        ('currency = "USD"', 'currency = "ABC"', "ISO 4217"),
        ('min_amount = "1000.00"', 'min_amount = "60000.00"', "min_amount <= max_amount"),
        ('min_amount = "1000.00"', 'min_amount = "1000.001"', "decimals"),
        ('min_amount = "1000.00"', "min_amount = 1000.0", "decimal string"),
        ("min_term = 6", "min_term = 0", "min_term"),
        ('A = "0.0899"', 'A = "0.3"', "rising from A to E"),
        ('E = "0.2499"', "", "exactly the grades"),
        ('day_count = "30/360"', 'day_count = "30/365"', "day_count"),
        ('method = "annuity"', 'method = "balloon"', "method"),
        (
            '"penalties", "fees", "interest", "principal"',
            '"fees", "interest", "principal"',
            "allocation_order",
        ),
        ('treatment = "deducted"', 'treatment = "waived"', "treatment"),
        ('max_dti_refer = "0.50"', 'max_dti_refer = "0.30"', "max_dti_approve <= max_dti_refer"),
        ("grace_days = 5", "grace_days = -1", "grace_days"),
        ("[products.penalty]", "[products.penaltyx]", "penalty"),
        ("[[products]]", "[[products]", "not valid TOML"),
    ],
)
def test_bad_catalog_is_refused_with_a_clear_message(old, new, message):
    text = _shipped_text()
    assert old in text
    with pytest.raises(CatalogError, match=message):
        parse_catalog(text.replace(old, new, 1))


def test_duplicate_product_code():
    text = _shipped_text()
    body = text.split("[[products]]", 1)[1]
    with pytest.raises(CatalogError, match="twice"):
        parse_catalog(text + "\n[[products]]" + body)


@pytest.mark.parametrize(
    ("amount", "currency", "term", "error"),
    [
        ("999.99", "USD", 12, AmountOutOfRangeError),
        ("50000.01", "USD", 12, AmountOutOfRangeError),
        ("1000.005", "USD", 12, AmountOutOfRangeError),
        ("1000.00", "USD", 5, TermOutOfRangeError),
        ("1000.00", "USD", 61, TermOutOfRangeError),
        ("1000.00", "EUR", 12, UnsupportedCurrencyError),
        ("1000.00", "QQQ", 12, UnsupportedCurrencyError),
    ],
)
def test_check_request(amount, currency, term, error):
    with pytest.raises(error):
        SHIPPED.get("PL-STD").check_request(Decimal(amount), currency, term)


def test_check_request_accepts_limits():
    product = SHIPPED.get("PL-STD")
    product.check_request(Decimal("1000.00"), "USD", 6)
    product.check_request(Decimal("50000"), "USD", 60)


def test_a_bad_catalog_stops_start_up(tmp_path):
    from los.bootstrap import build_app
    from los.settings import LosSettings

    path = tmp_path / "catalog.toml"
    path.write_text(_shipped_text().replace('currency = "USD"', 'currency = "??"'), "utf-8")
    settings = LosSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", catalog_path=path, environment="test"
    )
    with pytest.raises(CatalogError, match="ISO 4217"):
        build_app(settings)


def test_settings_defaults(monkeypatch):
    from los.settings import LosSettings

    monkeypatch.setenv("LOS_OFFER_VALIDITY_DAYS", "7")
    s = LosSettings()
    assert (s.service_name, s.port, s.database_url) == (
        "los",
        8001,
        "sqlite+aiosqlite:///var/los.db",
    )
    assert (s.offer_validity_days, s.handoff_alert_after_s, s.catalog_path) == (7, 300, None)
