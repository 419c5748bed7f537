"""Domain error classes mapped to HTTP statuses (their `code` becomes the problem code)."""

from __future__ import annotations

from lms.domain.errors import (
    InconsistentTermsError,
    LoanConflictError,
    LoanNotFoundError,
    UnbalancedEntryError,
    UnsupportedTermsError,
)

DOMAIN_ERRORS: dict[type[Exception], int] = {
    LoanNotFoundError: 404,
    LoanConflictError: 409,
    UnsupportedTermsError: 422,
    InconsistentTermsError: 422,
    UnbalancedEntryError: 422,
}
