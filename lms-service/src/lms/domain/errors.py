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


class CobDateClosedError(LmsError):
    """A business date before the last closed one: closed dates are never run again."""

    code = "cob_date_closed"


class CobDateInFutureError(LmsError):
    """A business date after today cannot be closed yet."""

    code = "cob_date_in_future"


class CobPreviousDateOpenError(LmsError):
    """A partitioned worker was asked for a date while earlier dates are still open."""

    code = "cob_previous_date_open"


class CobRunNotFoundError(LmsError):
    """No close of business run for that business date."""

    code = "cob_run_not_found"


class InvalidReportPeriodError(LmsError):
    """A report period that ends before it starts."""

    code = "invalid_report_period"


class FourEyesViolationError(LmsError):
    """The person who requested a change tried to approve or reject it."""

    code = "four_eyes_violation"


class RequestNotFoundError(LmsError):
    """No servicing request with this id."""

    code = "request_not_found"


class RequestPendingError(LmsError):
    """The loan already has a pending request of this kind."""

    code = "request_pending"


class RequestDecidedError(LmsError):
    """The request was already approved or rejected."""

    code = "request_decided"


class LoanNotWrittenOffError(LmsError):
    """A recovery on a loan that was not written off (take a repayment instead)."""

    code = "loan_not_written_off"


class NothingToWriteOffError(LmsError):
    """The loan owes nothing."""

    code = "nothing_to_write_off"


class CreditBalanceHeldError(LmsError):
    """The loan holds money for the borrower; refund it before writing the loan off."""

    code = "credit_balance_held"


class LoanNotSettledError(LmsError):
    """The loan still owes (or is owed) something, so it cannot be closed."""

    code = "loan_not_settled"


class CaseNotFoundError(LmsError):
    """No collection case with this id."""

    code = "case_not_found"


class CaseClosedError(LmsError):
    """The collection case is closed (its loan is current again or no longer active)."""

    code = "case_closed"


class PromiseInPastError(LmsError):
    """A promise to pay for a date before the business date."""

    code = "promise_in_past"


class PromiseOpenError(LmsError):
    """The case already has an open promise to pay; it is resolved on its date first."""

    code = "promise_open"


class TaskNotFoundError(LmsError):
    """No contact task with this id."""

    code = "task_not_found"


class TaskNotOpenError(LmsError):
    """The contact task is already done or was cancelled with its case."""

    code = "task_not_open"


class InvalidRestructureError(LmsError):
    """Restructure terms that mean nothing or cannot give a schedule for this loan."""

    code = "invalid_restructure"


class RestructureBlockedError(LmsError):
    """The loan's state does not allow a restructure now (money paid ahead, credit held)."""

    code = "restructure_blocked"


class ScheduleVersionNotFoundError(LmsError):
    """The loan never had the schedule version asked for."""

    code = "schedule_version_not_found"
