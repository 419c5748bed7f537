"""Document upload and verification; the content goes to the store, the metadata to the DB."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from los.adapters.documents import DocumentStore
from los.adapters.orm import DocumentRow
from los.adapters.repository import ApplicationRepository
from los.domain.applications import ApplicationStatus
from los.domain.documents import (
    CONTENT_TYPES,
    DOCUMENT_TYPES,
    DocumentStatus,
    content_matches,
    missing_documents,
)
from los.domain.errors import (
    ApplicationNotFoundError,
    DocumentNotFoundError,
    DocumentStateError,
    DocumentTooLargeError,
    FourEyesViolationError,
    IllegalTransitionError,
    UnsupportedDocumentTypeError,
)
from los.domain.products import Catalog
from los.service.audit import application_stream, record
from los.service.common import commit
from servicekit.clock import Clock
from servicekit.db import UnitOfWork

# Documents can be added until the money leaves.
_OPEN = frozenset(
    {
        ApplicationStatus.DRAFT.value,
        ApplicationStatus.SUBMITTED.value,
        ApplicationStatus.REFERRED.value,
        ApplicationStatus.APPROVED.value,
        ApplicationStatus.ACCEPTED.value,
    }
)


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file as received."""

    doc_type: str
    filename: str
    content_type: str
    content: bytes


def _doc_audit(row: DocumentRow) -> dict[str, object]:
    return {
        "document_id": row.id,
        "doc_type": row.doc_type,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "status": row.status,
    }


async def upload_document(
    uow: UnitOfWork,
    store: DocumentStore,
    application_id: str,
    upload: Upload,
    *,
    max_bytes: int,
    actor: str,
    clock: Clock,
) -> DocumentRow:
    """Check type and size, store the content, record the metadata and SHA-256."""
    repo = ApplicationRepository(uow.session)
    app = await repo.get(application_id)
    if app is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    if app.status not in _OPEN:
        raise IllegalTransitionError(app.status, "document_uploaded")
    if upload.doc_type not in DOCUMENT_TYPES:
        raise UnsupportedDocumentTypeError(
            f"Unknown document type {upload.doc_type!r}; one of {', '.join(sorted(DOCUMENT_TYPES))}."
        )
    if upload.content_type not in CONTENT_TYPES:
        raise UnsupportedDocumentTypeError(
            f"Content type {upload.content_type!r} is not accepted; use PDF, PNG or JPEG."
        )
    if len(upload.content) > max_bytes:
        raise DocumentTooLargeError(f"The file is larger than {max_bytes} bytes.")
    if not upload.content or not content_matches(upload.content_type, upload.content):
        raise UnsupportedDocumentTypeError(
            f"The file's content is not a {upload.content_type} document."
        )
    digest = hashlib.sha256(upload.content).hexdigest()
    key, created = store.put(digest, upload.content)
    now = clock.now()
    row = DocumentRow(
        id=str(uuid.uuid4()),
        application_id=application_id,
        doc_type=upload.doc_type,
        filename=upload.filename[:255] or "document",
        content_type=upload.content_type,
        size_bytes=len(upload.content),
        sha256=digest,
        storage_key=key,
        status=DocumentStatus.UPLOADED.value,
        uploaded_by=actor,
        uploaded_at=now,
    )
    try:
        repo.add(row)
        await uow.session.flush()
        await record(
            uow.session,
            application_stream(application_id),
            actor=actor,
            action="document_uploaded",
            at=now,
            after=_doc_audit(row),
        )
        await commit(uow)
    except BaseException:
        if created:
            store.delete(key)
        raise
    return row


async def verify_document(
    uow: UnitOfWork,
    application_id: str,
    document_id: str,
    *,
    outcome: str,
    comment: str,
    actor: str,
    clock: Clock,
) -> DocumentRow:
    """A reviewer verifies or rejects a document; never the person who uploaded it."""
    repo = ApplicationRepository(uow.session)
    if await repo.get(application_id) is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    row = await repo.get_document(application_id, document_id)
    if row is None:
        raise DocumentNotFoundError(f"No document {document_id} on application {application_id}.")
    if row.status != DocumentStatus.UPLOADED.value:
        raise DocumentStateError(f"The document is already {row.status}.")
    if row.uploaded_by == actor:
        raise FourEyesViolationError("The person who uploaded a document cannot verify it.")
    before = _doc_audit(row)
    now = clock.now()
    row.status = (
        DocumentStatus.VERIFIED.value if outcome == "verified" else DocumentStatus.REJECTED.value
    )
    row.reviewed_by = actor
    row.reviewed_at = now
    row.review_comment = comment
    await uow.session.flush()
    await record(
        uow.session,
        application_stream(application_id),
        actor=actor,
        action=f"document_{row.status}",
        at=now,
        before=before,
        after=_doc_audit(row) | {"comment": comment},
    )
    await commit(uow)
    return row


@dataclass(frozen=True, slots=True)
class DocumentChecklist:
    """An application's documents against what its product requires."""

    documents: Sequence[DocumentRow]
    required: list[str]
    missing: list[str]


async def document_checklist(
    uow: UnitOfWork, catalog: Catalog, application_id: str
) -> DocumentChecklist:
    """The documents, the required types for the (approved) amount, and what is missing."""
    repo = ApplicationRepository(uow.session)
    app = await repo.get(application_id)
    if app is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    amount = app.approved_amount if app.approved_amount is not None else app.requested_amount
    required = list(catalog.get(app.product_code).documents_for(amount))
    docs = await repo.list_documents(application_id)
    return DocumentChecklist(docs, required, missing_documents(required, docs))
