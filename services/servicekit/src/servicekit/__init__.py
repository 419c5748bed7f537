"""Infrastructure both lending services share and neither owns."""

from servicekit.app import ConsumerSpec, Runtime, build_runtime, create_app
from servicekit.auth import ROLES, CurrentPrincipal, Principal, issue_token, require_roles
from servicekit.db import UnitOfWork, UnitOfWorkFactory, create_engine, is_transient_db_error
from servicekit.errors import ProblemError, install_error_handlers, problem_response
from servicekit.inbox import Handler, InboxProcessor, KafkaInboxConsumer, Message, PermanentError
from servicekit.outbox import OutboxRelay, republish_from, stage_event, utcnow
from servicekit.settings import DEVELOPMENT_SECRET, ServiceSettings
from servicekit.tables import define_infrastructure_tables
from servicekit.types import ExactDecimal, UTCDateTime

__all__ = [
    "DEVELOPMENT_SECRET",
    "ROLES",
    "ConsumerSpec",
    "CurrentPrincipal",
    "ExactDecimal",
    "Handler",
    "InboxProcessor",
    "KafkaInboxConsumer",
    "Message",
    "OutboxRelay",
    "PermanentError",
    "Principal",
    "ProblemError",
    "Runtime",
    "ServiceSettings",
    "UTCDateTime",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "build_runtime",
    "create_app",
    "create_engine",
    "define_infrastructure_tables",
    "install_error_handlers",
    "is_transient_db_error",
    "issue_token",
    "problem_response",
    "republish_from",
    "require_roles",
    "stage_event",
    "utcnow",
]
