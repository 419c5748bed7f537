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


class InvalidNationalIdError(InvalidRequestError):
    """The national id does not have the format of its issuing country."""

    code = "invalid_national_id"


class DocumentsIncompleteError(ConflictError):
    """A required document is missing or not verified yet."""

    code = "documents_incomplete"

    def __init__(self, detail: str, missing: list[str]) -> None:
        super().__init__(detail)
        self.missing = missing


class DocumentNotFoundError(NotFoundError):
    """The document id is unknown for this application."""

    code = "document_not_found"


class DocumentRejectedError(InvalidRequestError):
    """The upload breaks a size, type or document-type rule."""

    code = "document_invalid"


class DocumentTooLargeError(DocumentRejectedError):
    """The upload is larger than the configured limit."""

    code = "document_too_large"


class UnsupportedDocumentTypeError(DocumentRejectedError):
    """The content type is not accepted, or the document type is unknown."""

    code = "unsupported_document_type"


class DocumentStateError(ConflictError):
    """The document was already verified or rejected."""

    code = "document_already_reviewed"


class ReviewStageError(ForbiddenError):
    """The reviewer's role cannot decide at the application's current approval stage."""

    code = "review_stage_forbidden"


class AlreadyReviewedError(ConflictError):
    """This reviewer already decided on this application."""

    code = "already_reviewed"


class InvalidCounterOfferError(InvalidRequestError):
    """A counter-offer must lower the amount or lengthen the term, within product limits."""

    code = "invalid_counter_offer"


class DecisionNotFoundError(NotFoundError):
    """The application has not been decided yet."""

    code = "decision_not_found"


class RefinancedLoanNotFoundError(NotFoundError):
    """A renewal or top-up names a loan this LOS never disbursed."""

    code = "refinanced_loan_not_found"


class InvalidRefinanceError(InvalidRequestError):
    """The loan to pay off belongs to another applicant, is in another currency, or was not
    disbursed."""

    code = "invalid_refinance"


class LoanAlreadyRefinancedError(ConflictError):
    """Another disbursed application already pays this loan off."""

    code = "loan_already_refinanced"
