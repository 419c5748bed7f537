"""Request-scoped context: the correlation id and trace parent that follow work across services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)
# Per-aggregate (traceparent, correlation id) while a batch of events is applied at once,
# so what the work for one aggregate stages carries that aggregate's event's context.
_subject_contexts: ContextVar[Mapping[str, tuple[str | None, str | None]] | None] = ContextVar(
    "subject_contexts", default=None
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def new_correlation_id() -> str:
    """A fresh correlation id."""
    return uuid.uuid4().hex


def clean_correlation_id(value: str | None) -> str:
    """Accept a caller's id only if it is short and plain; otherwise make one."""
    if value and _SAFE_ID.match(value):
        return value
    return new_correlation_id()


def clean_traceparent(value: str | None) -> str | None:
    """A W3C traceparent if well-formed, else nothing."""
    return value if value and _TRACEPARENT.match(value) else None


def get_correlation_id() -> str | None:
    """The correlation id of the work in progress."""
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> None:
    """Bind a correlation id to the current task."""
    _correlation_id.set(value)


def get_traceparent() -> str | None:
    """The W3C traceparent of the work in progress."""
    return _traceparent.get()


def set_traceparent(value: str | None) -> None:
    """Bind a traceparent to the current task."""
    _traceparent.set(value)


def get_subject_context(subject: str) -> tuple[str | None, str | None] | None:
    """The (traceparent, correlation id) bound to one aggregate by a batch, if any."""
    contexts = _subject_contexts.get()
    return None if contexts is None else contexts.get(subject)


def bind_subject_contexts(
    contexts: Mapping[str, tuple[str | None, str | None]] | None,
) -> Token[Mapping[str, tuple[str | None, str | None]] | None]:
    """Bind per-aggregate contexts for a batch; reset with `unbind_subject_contexts`."""
    return _subject_contexts.set(contexts)


def unbind_subject_contexts(
    token: Token[Mapping[str, tuple[str | None, str | None]] | None],
) -> None:
    """Undo `bind_subject_contexts`."""
    _subject_contexts.reset(token)
