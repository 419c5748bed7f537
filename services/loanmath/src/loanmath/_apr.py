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


def _float_guess(flows: Sequence[tuple[float, float]], target: float) -> float | None:
    """A binary-float estimate of the rate >= 0 where sum(a (1 + r)^-t) meets the target.

    Only a starting point for the exact solve: None when Newton in floats does not settle
    on a non-negative rate (the exact solve then brackets from scratch).
    """
    rate = 0.1
    try:
        for _ in range(60):
            growth = 1.0 + rate
            value = slope = 0.0
            for t, a in flows:
                discounted = a * growth**-t
                value += discounted
                slope -= t * discounted / growth
            if slope == 0.0:
                return None
            step = (value - target) / slope
            rate -= step
            if not rate > -1.0:
                return None
            if abs(step) <= 1e-15 * max(1.0, abs(rate)):
                return rate if rate >= 0.0 else None
    except (OverflowError, ZeroDivisionError):
        return None
    return None


def _polish(present_value: _ValueAndSlope, target: Decimal, rate: Decimal) -> Decimal | None:
    """Newton in Decimal from a close estimate (a float's 16 digits): two or three steps
    reach the tolerance; None if they do not, or if a step leaves the rates >= 0."""
    for _ in range(8):
        value, slope = present_value(rate)
        if not slope:
            return None
        step = (value - target) / slope
        candidate = rate - step
        if candidate < 0:
            return None
        if abs(step) < _TOLERANCE:
            return candidate
        rate = candidate
    return None


def _solve(present_value: _ValueAndSlope, target: Decimal, guess: float | None = None) -> Decimal:
    """Find the rate >= 0 where the falling present value meets the target.

    With a close `guess`, Newton from it (the present value is convex and falling, so from
    16 correct digits each step squares the error). Otherwise, or if that does not settle:
    safeguarded Newton, the root first bracketed by doubling, then each Newton step that
    would leave the bracket replaced by a bisection, so it always converges.
    """
    if guess is not None:
        polished = _polish(present_value, target, Decimal(repr(guess)))
        if polished is not None:
            return polished
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
        guess = _float_guess([(k, float(p)) for k, p in enumerate(flows, start=1)], float(amount))
        periodic = _solve(present_value, amount, guess)
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
        """Discount each payment by its ACT/365 time: sum C (1+X)^-t and its slope in X.

        (1+X)^-(d/365) is the daily factor (1+X)^(-1/365) to the whole power d: one
        logarithm and one exponential per rate, then integer powers of the daily factor
        from one payment date to the next (payments in date order)."""
        growth = 1 + rate
        daily = (-growth.ln() / 365).exp()
        total, slope = Decimal(0), Decimal(0)
        factor, at = Decimal(1), 0
        for days, years, value in timed:
            factor *= daily ** (days - at)
            at = days
            discounted = value * factor
            total += discounted
            slope -= years * discounted / growth
        return total, slope

    with localcontext(work_context()):
        _check_amounts(principal, [value for _, value in flows])
        timed = sorted(
            ((day - start).days, Decimal((day - start).days) / 365, value) for day, value in flows
        )
        guess = _float_guess([(d / 365, float(value)) for d, _, value in timed], float(principal))
        return _solve(present_value, principal, guess).quantize(_RATE_QUANTUM)
