"""Annual percentage rates for offers: US Reg Z actuarial APR and EU CCD APRC."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal, localcontext

from loanmath._errors import InvalidCashFlowsError
from loanmath._numeric import work_context
from loanmath._rounding import as_decimal

# Rates are reported as fractions with six decimals (0.126825 = 12.6825 %), finer than the
# 1/8 point Reg Z tolerance and the one decimal the EU directive asks for.
_RATE_QUANTUM = Decimal("0.000001")
# Solving stops when a step or the bracket is narrower than this, far below six decimals.
_TOLERANCE = Decimal("1e-20")
_MAX_DOUBLINGS = 200
_MAX_ITERATIONS = 500


def _check_amounts(amount: Decimal, payments: Sequence[Decimal]) -> None:
    """Reject inputs with no non-negative rate: nothing lent, nothing repaid, or too little."""
    if amount <= 0:
        raise InvalidCashFlowsError(f"amount must be > 0, got {amount}")
    if not payments:
        raise InvalidCashFlowsError("at least one payment is required")
    if any(p < 0 for p in payments):
        raise InvalidCashFlowsError("payments must not be negative")
    if sum(payments, Decimal(0)) < amount:
        raise InvalidCashFlowsError("payments total less than the amount: the rate is negative")


# f(rate) returns the present value of the payments and its derivative in the rate.
_ValueAndSlope = Callable[[Decimal], tuple[Decimal, Decimal]]


def _solve(present_value: _ValueAndSlope, target: Decimal) -> Decimal:
    """Find the rate >= 0 where the falling present value meets the target.

    Safeguarded Newton: the root is first bracketed by doubling, then each Newton step
    that would leave the bracket is replaced by a bisection, so it always converges.
    """
    low, high = Decimal(0), Decimal(1)
    for _ in range(_MAX_DOUBLINGS):
        if present_value(high)[0] <= target:
            break
        low, high = high, high * 2
    else:
        raise InvalidCashFlowsError("no rate found: payments do not fall with the rate")
    rate = (low + high) / 2
    for _ in range(_MAX_ITERATIONS):
        value, slope = present_value(rate)
        excess = value - target
        if excess > 0:
            low = rate
        else:
            high = rate
        candidate = rate - excess / slope if slope else high
        if not low < candidate < high:
            candidate = (low + high) / 2
        if abs(candidate - rate) < _TOLERANCE or high - low < _TOLERANCE:
            return candidate
        rate = candidate
    raise InvalidCashFlowsError("rate did not converge")  # pragma: no cover - see docstring


def annual_percentage_rate(
    amount_financed: Decimal, payments: Sequence[Decimal], periods_per_year: int
) -> Decimal:
    """US Reg Z (Appendix J) actuarial APR for equal periods, as a fraction to 6 places.

    Solves amount_financed = sum(payment_k / (1 + i)^k, k = 1..n) for the periodic rate i
    by safeguarded Newton in Decimal and returns i * periods_per_year. amount_financed is the
    principal less prepaid finance charges; payments are the scheduled installments.
    """
    amount = as_decimal(amount_financed, "amount_financed")
    flows = [as_decimal(p, "payment") for p in payments]
    if isinstance(periods_per_year, bool) or periods_per_year < 1:
        raise InvalidCashFlowsError(f"periods_per_year must be >= 1, got {periods_per_year}")

    def present_value(rate: Decimal) -> tuple[Decimal, Decimal]:
        """Discount each payment by whole periods: sum p_k v^k and its slope -sum k p_k v^(k+1)."""
        step = 1 / (1 + rate)
        factor, total, slope = Decimal(1), Decimal(0), Decimal(0)
        for period, payment in enumerate(flows, start=1):
            factor *= step
            total += payment * factor
            slope -= period * payment * factor * step
        return total, slope

    with localcontext(work_context()):
        _check_amounts(amount, flows)
        periodic = _solve(present_value, amount)
        return (periodic * periods_per_year).quantize(_RATE_QUANTUM)


def eu_aprc(amount: Decimal, cash_flows: Sequence[tuple[date, Decimal]], start: date) -> Decimal:
    """EU Consumer Credit Directive APRC (Annex I), annual effective, as a fraction to 6 places.

    Solves amount = sum(C_k * (1 + X)^-t_k) for X, where amount is drawn on start, C_k are
    the borrower's payments (principal, interest and charges) and t_k is the ACT/365 year
    fraction (days from start / 365) of the k-th payment date.
    """
    principal = as_decimal(amount, "amount")
    flows = [(day, as_decimal(value, "payment")) for day, value in cash_flows]
    if any(day < start for day, _ in flows):
        raise InvalidCashFlowsError(f"payments must not fall before the start date {start}")

    def present_value(rate: Decimal) -> tuple[Decimal, Decimal]:
        """Discount each payment by its ACT/365 time: sum C (1+X)^-t and its slope in X."""
        growth = 1 + rate
        log_growth = growth.ln()
        total, slope = Decimal(0), Decimal(0)
        for years, value in timed:
            discounted = value * (-years * log_growth).exp()
            total += discounted
            slope -= years * discounted / growth
        return total, slope

    with localcontext(work_context()):
        _check_amounts(principal, [value for _, value in flows])
        timed = [(Decimal((day - start).days) / 365, value) for day, value in flows]
        return _solve(present_value, principal).quantize(_RATE_QUANTUM)
