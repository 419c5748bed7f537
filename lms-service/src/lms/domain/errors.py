"""Domain errors, each with a stable `code`; the edges map them to HTTP or dead letters."""

from __future__ import annotations


class LmsError(Exception):
    """Base of every LMS domain error."""

    code: str = "lms_error"


class UnsupportedTermsError(LmsError):
    """The loan's terms name a currency, method or convention the LMS cannot service."""

    code = "unsupported_terms"


class InconsistentTermsError(LmsError):
    """The loan's figures contradict each other (e.g. net disbursed vs deducted fees)."""

    code = "inconsistent_terms"


class LoanConflictError(LmsError):
    """A loan id already booked arrives again with different terms."""

    code = "loan_conflict"


class LoanNotFoundError(LmsError):
    """No loan with this id is booked."""

    code = "loan_not_found"


class UnbalancedEntryError(LmsError):
    """A journal entry whose debits and credits differ can never be posted."""

    code = "unbalanced_entry"
