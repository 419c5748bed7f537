"""The single rounding function and its modes."""

from decimal import Decimal, localcontext

import pytest

from loanmath import LoanMathError, RoundingMode, UnknownCurrencyError, get_currency, round_money


def test_mode_values_are_stable_lower_case_names() -> None:
    assert {m.name.lower(): m.value for m in RoundingMode} == {
        m.name.lower(): m.name.lower() for m in RoundingMode
    }
    assert [m.value for m in RoundingMode] == [
        "half_even",
        "half_up",
        "half_down",
        "down",
        "up",
        "ceiling",
        "floor",
    ]


# Expected values worked by hand from each mode's definition (IEEE 754 / decimal module names).
@pytest.mark.parametrize(
    ("mode", "amount", "expected"),
    [
        (RoundingMode.HALF_EVEN, "2.345", "2.34"),
        (RoundingMode.HALF_EVEN, "2.355", "2.36"),
        (RoundingMode.HALF_EVEN, "-2.345", "-2.34"),
        (RoundingMode.HALF_EVEN, "2.3451", "2.35"),
        (RoundingMode.HALF_UP, "2.345", "2.35"),
        (RoundingMode.HALF_UP, "-2.345", "-2.35"),
        (RoundingMode.HALF_UP, "2.3449", "2.34"),
        (RoundingMode.HALF_DOWN, "2.345", "2.34"),
        (RoundingMode.HALF_DOWN, "2.3451", "2.35"),
        (RoundingMode.DOWN, "2.349", "2.34"),
        (RoundingMode.DOWN, "-2.349", "-2.34"),
        (RoundingMode.UP, "2.341", "2.35"),
        (RoundingMode.UP, "-2.341", "-2.35"),
        (RoundingMode.CEILING, "2.341", "2.35"),
        (RoundingMode.CEILING, "-2.349", "-2.34"),
        (RoundingMode.FLOOR, "2.349", "2.34"),
        (RoundingMode.FLOOR, "-2.341", "-2.35"),
    ],
)
def test_modes_on_cents(mode: RoundingMode, amount: str, expected: str) -> None:
    result = round_money(Decimal(amount), "USD", mode)
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


def test_default_mode_is_half_even() -> None:
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.12")
    assert round_money(Decimal("0.135"), "USD") == Decimal("0.14")


def test_zero_decimal_currency() -> None:
    result = round_money(Decimal("1234.5"), "JPY")
    assert result == Decimal("1234")
    assert result.as_tuple().exponent == 0
    assert round_money(Decimal("1235.5"), "JPY") == Decimal("1236")


def test_three_decimal_currency() -> None:
    result = round_money(Decimal("1.23456"), "KWD")
    assert str(result) == "1.235"


def test_pads_to_minor_unit() -> None:
    assert str(round_money(Decimal("5"), "USD")) == "5.00"
    assert str(round_money(Decimal("5"), "BHD")) == "5.000"


def test_accepts_currency_instance_and_mode_value() -> None:
    usd = get_currency("USD")
    assert round_money(Decimal("1.005"), usd, RoundingMode("half_up")) == Decimal("1.01")
    assert round_money(Decimal("1.005"), usd, "half_up") == Decimal("1.01")  # type: ignore[arg-type]


def test_accepts_int() -> None:
    assert str(round_money(7, "EUR")) == "7.00"  # type: ignore[arg-type]


def test_refuses_float_and_other_types() -> None:
    with pytest.raises(TypeError, match="not float"):
        round_money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        round_money("1.5", "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        round_money(True, "USD")  # type: ignore[arg-type]


def test_refuses_non_finite() -> None:
    with pytest.raises(LoanMathError, match="finite"):
        round_money(Decimal("NaN"), "USD")
    with pytest.raises(LoanMathError, match="finite"):
        round_money(Decimal("-Infinity"), "USD")


def test_unknown_currency() -> None:
    with pytest.raises(UnknownCurrencyError):
        round_money(Decimal(1), "ABC")


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="not a valid RoundingMode"):
        round_money(Decimal(1), "USD", "bankers")  # type: ignore[arg-type]


def test_negative_zero_is_normalised() -> None:
    result = round_money(Decimal("-0.001"), "USD")
    assert str(result) == "0.00"
    assert not result.is_signed()


def test_large_amounts_keep_every_digit() -> None:
    big = Decimal("123456789012345678901234567890.125")
    assert round_money(big, "USD") == Decimal("123456789012345678901234567890.12")


def test_independent_of_global_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert round_money(Decimal("98765.435"), "USD") == Decimal("98765.44")
