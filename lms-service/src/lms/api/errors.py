"""Domain error classes mapped to HTTP statuses (their `code` becomes the problem code)."""

from __future__ import annotations

from lms.domain.errors import (
    CurrencyMismatchError,
    ExternalRefConflictError,
    InconsistentTermsError,
    InvalidAllocationOrderError,
    InvalidAmountError,
    InvalidChargeError,
    InvalidValueDateError,
    LoanClosedError,
    LoanConflictError,
    LoanNotFoundError,
    PaymentAlreadyReversedError,
    PaymentNotFoundError,
    UnbalancedEntryError,
    UnsupportedTermsError,
)

DOMAIN_ERRORS: dict[type[Exception], int] = {
    LoanNotFoundError: 404,
    PaymentNotFoundError: 404,
    LoanConflictError: 409,
    LoanClosedError: 409,
    ExternalRefConflictError: 409,
    PaymentAlreadyReversedError: 409,
    UnsupportedTermsError: 422,
    InconsistentTermsError: 422,
    UnbalancedEntryError: 422,
    InvalidAllocationOrderError: 422,
    CurrencyMismatchError: 422,
    InvalidAmountError: 422,
    InvalidValueDateError: 422,
    InvalidChargeError: 422,
}
