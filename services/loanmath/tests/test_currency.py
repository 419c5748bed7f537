"""Currency table and lookups."""

import dataclasses

import pytest

from loanmath import (
    CURRENCIES,
    Currency,
    LoanMathError,
    UnknownCurrencyError,
    get_currency,
    is_supported_currency,
)


@pytest.mark.parametrize(
    ("code", "minor_units"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("INR", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("CHF", 2),
        ("CAD", 2),
        ("AUD", 2),
        ("KES", 2),
        ("NGN", 2),
        ("ZAR", 2),
        ("BRL", 2),
        ("MXN", 2),
        ("CNY", 2),
        ("SGD", 2),
        ("AED", 2),
        ("PHP", 2),
        ("IDR", 2),
        ("KRW", 0),
        ("OMR", 3),
        ("CLF", 4),
    ],
)
def test_minor_units_per_iso_4217(code: str, minor_units: int) -> None:
    assert get_currency(code) == Currency(code=code, minor_units=minor_units)
    assert is_supported_currency(code)


@pytest.mark.parametrize("code", ["usd", "XXX", "", "US", "EURO", "XAU"])
def test_unknown_code_raises(code: str) -> None:
    with pytest.raises(UnknownCurrencyError, match="unknown ISO 4217"):
        get_currency(code)
    assert not is_supported_currency(code)


def test_unknown_currency_error_is_a_value_error() -> None:
    assert issubclass(UnknownCurrencyError, LoanMathError)
    assert issubclass(UnknownCurrencyError, ValueError)


def test_non_string_code_is_unknown() -> None:
    with pytest.raises(UnknownCurrencyError):
        get_currency(None)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrencyError):
        get_currency(["USD"])  # type: ignore[arg-type]
    assert not is_supported_currency(840)  # type: ignore[arg-type]


def test_table_is_well_formed_and_read_only() -> None:
    assert len(CURRENCIES) > 150
    for code, currency in CURRENCIES.items():
        assert currency.code == code
        assert len(code) == 3
        assert code.isupper()
        assert currency.minor_units in {0, 2, 3, 4}
    with pytest.raises(TypeError):
        CURRENCIES["ABC"] = Currency("ABC", 2)  # type: ignore[index]


def test_currency_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_currency("USD").minor_units = 3  # type: ignore[misc]
