"""Money: a Decimal amount tagged with its currency."""

import dataclasses
import operator
from decimal import Decimal, localcontext

import pytest

from loanmath import CurrencyMismatchError, LoanMathError, Money, RoundingMode, UnknownCurrencyError


def test_construct_and_of() -> None:
    assert Money(Decimal("12.34"), "USD") == Money.of("12.34", "USD")
    assert Money.of(" 12.34 ", "USD").amount == Decimal("12.34")
    assert Money.of(Decimal("1.5"), "EUR").amount == Decimal("1.5")
    assert Money.of(5, "JPY").amount == Decimal(5)
    assert isinstance(Money(5, "JPY").amount, Decimal)  # type: ignore[arg-type]


def test_refuses_float() -> None:
    with pytest.raises(TypeError, match="float"):
        Money(1.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money.of(1.1, "USD")  # type: ignore[arg-type]


def test_refuses_strings_in_constructor_and_garbage_in_of() -> None:
    with pytest.raises(TypeError):
        Money("1.10", "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a decimal amount"):
        Money.of("1,10", "USD")


def test_refuses_unknown_currency_and_non_finite() -> None:
    with pytest.raises(UnknownCurrencyError):
        Money(Decimal(1), "usd")
    with pytest.raises(LoanMathError, match="finite"):
        Money.of("NaN", "USD")


def test_frozen_and_hashable() -> None:
    money = Money.of("1.00", "USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = Decimal(2)  # type: ignore[misc]
    assert hash(money) == hash(Money.of("1.0", "USD"))
    assert len({money, Money.of("1", "USD"), Money.of("1", "EUR")}) == 2


def test_add_and_subtract_same_currency() -> None:
    assert Money.of("1.10", "USD") + Money.of("2.25", "USD") == Money.of("3.35", "USD")
    assert Money.of("1.10", "USD") - Money.of("2.25", "USD") == Money.of("-1.15", "USD")


def test_arithmetic_is_independent_of_global_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 2
        total = Money.of("1000.01", "USD") + Money.of("0.01", "USD")
        diff = Money.of("1000.01", "USD") - Money.of("0.01", "USD")
        scaled = Money.of("1000.01", "USD") * Decimal(3)
    assert total.amount == Decimal("1000.02")
    assert diff.amount == Decimal("1000.00")
    assert scaled.amount == Decimal("3000.03")


def test_currency_mismatch() -> None:
    usd, eur = Money.of("1", "USD"), Money.of("1", "EUR")
    assert issubclass(CurrencyMismatchError, ValueError)
    with pytest.raises(CurrencyMismatchError, match="USD with EUR"):
        _ = usd + eur
    with pytest.raises(CurrencyMismatchError):
        _ = usd - eur
    with pytest.raises(CurrencyMismatchError):
        _ = usd < eur
    assert usd != eur


def test_add_refuses_non_money() -> None:
    with pytest.raises(TypeError):
        _ = Money.of("1", "USD") + Decimal(1)
    with pytest.raises(TypeError):
        _ = Money.of("1", "USD") - 1


def test_multiply_by_decimal_or_int() -> None:
    money = Money.of("10.00", "USD")
    assert money * Decimal("0.125") == Money.of("1.25", "USD")
    assert Decimal("0.5") * money == Money.of("5.00", "USD")
    assert money * 3 == Money.of("30.00", "USD")
    assert 2 * money == Money.of("20.00", "USD")


def test_multiply_refuses_float_and_money() -> None:
    money = Money.of("10.00", "USD")
    with pytest.raises(TypeError):
        _ = money * 1.5
    with pytest.raises(TypeError):
        _ = money * money
    with pytest.raises(TypeError):
        _ = money * "2"


def test_negation() -> None:
    assert -Money.of("1.50", "USD") == Money.of("-1.50", "USD")


def test_comparisons() -> None:
    small, large = Money.of("1.00", "USD"), Money.of("2.00", "USD")
    assert small < large
    assert small <= large
    assert small <= Money.of("1", "USD")
    assert large > small
    assert large >= small
    assert not small > large
    assert not large <= small
    assert max(small, large) is large


def test_comparison_with_non_money_is_type_error() -> None:
    money = Money.of("1.00", "USD")
    for compare in (operator.lt, operator.le, operator.gt, operator.ge):
        with pytest.raises(TypeError):
            compare(money, 1)
    assert money != Decimal("1.00")


def test_rounded_uses_currency_minor_unit() -> None:
    assert Money.of("2.345", "USD").rounded() == Money.of("2.34", "USD")
    assert Money.of("2.345", "USD").rounded(RoundingMode.HALF_UP) == Money.of("2.35", "USD")
    assert str(Money.of("1234.5", "JPY").rounded()) == "1234 JPY"
    assert str(Money.of("1.2345", "KWD").rounded()) == "1.234 KWD"


def test_zero_and_is_zero() -> None:
    assert str(Money.zero("USD")) == "0.00 USD"
    assert str(Money.zero("JPY")) == "0 JPY"
    assert Money.zero("KWD").is_zero()
    assert Money.of("-0.00", "USD").is_zero()
    assert not Money.of("0.01", "USD").is_zero()


def test_str() -> None:
    assert str(Money.of("12.34", "USD")) == "12.34 USD"
