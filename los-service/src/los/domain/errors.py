"""Domain errors: each carries a stable `code`; the API maps the class to an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the LOS domain refuses; knows nothing of HTTP."""

    code: str = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    """Something named by id does not exist."""

    code = "not_found"


class ApplicantNotFoundError(NotFoundError):
    """The applicant id is unknown."""

    code = "applicant_not_found"


class ApplicationNotFoundError(NotFoundError):
    """The application id is unknown."""

    code = "application_not_found"


class OfferNotFoundError(NotFoundError):
    """The application has no offer (not approved yet, or declined)."""

    code = "offer_not_found"


class InvalidRequestError(DomainError):
    """A request that is well-formed but breaks a business rule (422)."""

    code = "invalid_request"


class UnknownProductError(InvalidRequestError):
    """The product code is not in the catalog."""

    code = "unknown_product"


class UnsupportedCurrencyError(InvalidRequestError):
    """Not an ISO 4217 code, or not the product's currency."""

    code = "unsupported_currency"


class AmountOutOfRangeError(InvalidRequestError):
    """Requested amount outside the product's limits or finer than the currency allows."""

    code = "amount_out_of_range"


class TermOutOfRangeError(InvalidRequestError):
    """Requested term outside the product's limits."""

    code = "term_out_of_range"


class AgeOutOfRangeError(InvalidRequestError):
    """The applicant is younger than 18 or older than 100."""

    code = "age_out_of_range"


class ConflictError(DomainError):
    """The request conflicts with the current state (409)."""

    code = "conflict"


class ApplicantExistsError(ConflictError):
    """An applicant with this national id is already onboarded."""

    code = "applicant_exists"

    def __init__(self, detail: str, existing_id: str) -> None:
        super().__init__(detail)
        self.existing_id = existing_id


class IllegalTransitionError(ConflictError):
    """The state machine does not allow this move."""

    code = "illegal_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"An application cannot move from {current!r} to {target!r}.")
        self.current = current
        self.target = target


class ConcurrentUpdateError(ConflictError):
    """Someone else changed the application since it was read."""

    code = "concurrent_update"


class OfferExpiredError(ConflictError):
    """The offer's validity ran out before acceptance."""

    code = "offer_expired"


class OfferStaleError(ConflictError):
    """Disbursing now would put the disbursement on or after the first due date."""

    code = "offer_stale"


class ForbiddenError(DomainError):
    """The caller may not do this to this record (403)."""

    code = "forbidden"


class FourEyesViolationError(ForbiddenError):
    """The reviewer is the person who submitted the application."""

    code = "four_eyes_violation"


class CatalogError(DomainError):
    """The product catalog file is malformed; raised at start-up."""

    code = "invalid_catalog"
