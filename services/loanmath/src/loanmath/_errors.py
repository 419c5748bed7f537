"""Error types raised by loanmath, all ValueErrors so callers can map them to a 4xx."""

from __future__ import annotations


class LoanMathError(ValueError):
    """Base class so a caller can catch every loanmath input error in one clause."""


class UnknownCurrencyError(LoanMathError):
    """Raised for a code outside the ISO 4217 table, so money is never rounded by guesswork."""


class CurrencyMismatchError(LoanMathError):
    """Raised when two amounts in different currencies meet, since that needs an FX rate."""


class InvalidTermsError(LoanMathError):
    """Raised when loan terms cannot produce a schedule, with a message the UI can show."""


class InvalidCashFlowsError(LoanMathError):
    """Raised when an APR cannot be solved for the given amounts and payments."""
