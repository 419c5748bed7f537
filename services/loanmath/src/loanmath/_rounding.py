"""The single money-rounding function, so offer and booked schedule round identically."""

from __future__ import annotations

import decimal
from decimal import Context, Decimal
from enum import StrEnum

from loanmath._currency import Currency, get_currency
from loanmath._errors import LoanMathError


class RoundingMode(StrEnum):
    """How an amount is brought to the currency's minor unit; values are stable for storage."""

    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    HALF_DOWN = "half_down"
    DOWN = "down"
    UP = "up"
    CEILING = "ceiling"
    FLOOR = "floor"


_DECIMAL_ROUNDING: dict[RoundingMode, str] = {
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_DOWN: decimal.ROUND_HALF_DOWN,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
}


def as_decimal(value: object, what: str) -> Decimal:
    """Accept Decimal or int but never float, so binary fractions cannot leak into money."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    else:
        raise TypeError(f"{what} must be a Decimal (or int), not {type(value).__name__}")
    if not result.is_finite():
        raise LoanMathError(f"{what} must be a finite number, got {result}")
    return result


def round_money(
    amount: Decimal,
    currency: str | Currency,
    mode: RoundingMode = RoundingMode.HALF_EVEN,
) -> Decimal:
    """Quantize an amount to the currency's minor unit; every money rounding goes through here."""
    value = as_decimal(amount, "amount")
    cur = currency if isinstance(currency, Currency) else get_currency(currency)
    rounding = _DECIMAL_ROUNDING[RoundingMode(mode)]
    exponent = Decimal(1).scaleb(-cur.minor_units)
    # Enough digits for the integer part plus the minor units, so quantize never overflows.
    digits = max(value.adjusted(), 0) + cur.minor_units + 2
    context = Context(prec=max(digits, 28), rounding=rounding)
    result = value.quantize(exponent, context=context)
    # Rounding a tiny negative amount gives -0; money has no signed zero.
    return result.copy_abs() if result.is_zero() else result
