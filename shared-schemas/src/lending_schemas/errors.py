"""Exception hierarchy so consumers can route any contract failure by a stable ``code``."""

from __future__ import annotations

__all__ = [
    "ENVELOPE_ERROR_CODES",
    "ContractError",
    "ContractViolationError",
    "EnvelopeError",
    "UnknownEventTypeError",
    "UnknownVersionError",
]

#: Every ``code`` an :class:`EnvelopeError` can carry; dead-letter tooling keys on these.
ENVELOPE_ERROR_CODES: frozenset[str] = frozenset(
    {
        "missing_header",
        "duplicate_header",
        "bad_header",
        "missing_value",
        "bad_encoding",
        "bad_json",
        "not_an_object",
        "bad_specversion",
        "bad_time",
        "bad_sequence",
        "bad_content_type",
        "invalid_envelope",
    }
)


class ContractError(ValueError):
    """Base of every contract failure so a consumer can dead-letter with one ``except``."""

    code: str = "contract_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        """Keep the message and allow a subclass-specific code override."""
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """Expose the human-readable text without ``str()`` juggling."""
        return str(self.args[0]) if self.args else ""


class EnvelopeError(ContractError):
    """Raised when a Kafka record is not a well-formed binary-mode CloudEvent."""

    code = "invalid_envelope"

    def __init__(self, message: str, *, code: str) -> None:
        """Require a code so every envelope failure is classifiable."""
        if code not in ENVELOPE_ERROR_CODES:
            raise ValueError(f"unknown envelope error code {code!r}")
        super().__init__(message, code=code)


class UnknownEventTypeError(ContractError):
    """Raised when no model is registered for an event type at all."""

    code = "unknown_event_type"


class UnknownVersionError(ContractError):
    """Raised when the event type is known but not in this major version."""

    code = "unknown_version"


class ContractViolationError(ContractError):
    """Raised when a payload fails validation against its registered model."""

    code = "contract_violation"

    def __init__(self, message: str, *, field_errors: tuple[str, ...] = ()) -> None:
        """Keep the individual field errors for logs and dead-letter headers."""
        super().__init__(message)
        self.field_errors = field_errors
