"""Decimal working contexts shared by the engine, so no result depends on the global context."""

from __future__ import annotations

from decimal import ROUND_05UP, ROUND_HALF_EVEN, Context, Decimal

# Far more digits than any money amount or rate needs, so intermediate results are exact in
# every realistic case and rounding to the minor unit happens only once, in round_money.
WORK_PRECISION = 60


def work_context() -> Context:
    """Return a fresh high-precision context so callers never share or mutate the global one."""
    return Context(prec=WORK_PRECISION, rounding=ROUND_HALF_EVEN)


def sticky_context() -> Context:
    """Return a context that rounds to odd (ROUND_05UP) so a later rounding is never doubled.

    A quotient rounded this way keeps a non-zero last digit whenever it was inexact, so a
    value just above or below a tie can never collapse onto the tie before round_money.
    """
    return Context(prec=WORK_PRECISION, rounding=ROUND_05UP)


def divide_for_rounding(numerator: Decimal, denominator: Decimal) -> Decimal:
    """Divide so that rounding the quotient to the minor unit matches the exact rational."""
    return sticky_context().divide(numerator, denominator)
