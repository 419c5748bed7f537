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


class InvalidAllocationOrderError(LmsError):
    """A product's allocation order does not name each component exactly once."""

    code = "invalid_allocation_order"


class CurrencyMismatchError(LmsError):
    """Money in another currency than the loan's."""

    code = "currency_mismatch"


class InvalidAmountError(LmsError):
    """A zero, negative or over-precise amount for the currency."""

    code = "invalid_amount"


class InvalidValueDateError(LmsError):
    """A value date before disbursement or after the business date."""

    code = "invalid_value_date"


class LoanClosedError(LmsError):
    """The loan is closed (paid off or written off) and takes no more money."""

    code = "loan_closed"


class ExternalRefConflictError(LmsError):
    """The external reference was used on this loan for a different payment."""

    code = "external_ref_conflict"


class PaymentNotFoundError(LmsError):
    """No payment with this id on this loan."""

    code = "payment_not_found"


class PaymentAlreadyReversedError(LmsError):
    """A reversed payment cannot be reversed again."""

    code = "payment_already_reversed"


class InvalidChargeError(LmsError):
    """A charge on an installment that does not exist or of a kind that cannot be charged."""

    code = "invalid_charge"


class StatementRejectedError(LmsError):
    """A bank statement file with bad rows; nothing of it was imported."""

    code = "statement_rejected"

    def __init__(self, message: str, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.errors = errors
