"""Documents of an application: multipart upload, listing with the checklist, verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, UploadFile, status

from los.adapters.orm import DocumentRow
from los.api.deps import (
    AnyRole,
    CatalogDep,
    DocumentStoreDep,
    DocumentUploader,
    LosSettingsDep,
    Reviewer,
)
from los.api.schemas import DocumentList, DocumentOut, DocumentVerifyIn
from los.domain.errors import DocumentTooLargeError
from los.service.documents import Upload, document_checklist, upload_document, verify_document
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/applications", tags=["documents"])


def document_out(row: DocumentRow) -> DocumentOut:
    """The API view of a document."""
    return DocumentOut(
        id=row.id,
        application_id=row.application_id,
        doc_type=row.doc_type,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        status=row.status,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        review_comment=row.review_comment,
    )


@router.post(
    "/{application_id}/documents",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a document",
    responses={
        404: {"description": "application_not_found"},
        409: {"description": "illegal_transition (application closed)"},
        422: {"description": "unsupported_document_type or document_too_large"},
    },
)
async def post_document(
    application_id: str,
    principal: DocumentUploader,
    uow: UowDep,
    clock: ClockDep,
    settings: LosSettingsDep,
    store: DocumentStoreDep,
    doc_type: Annotated[str, Form(min_length=1, max_length=60)],
    file: Annotated[UploadFile, File()],
) -> DocumentOut:
    """multipart/form-data with `doc_type` and `file` (PDF, PNG or JPEG, size-limited)."""
    content = await file.read(settings.document_max_bytes + 1)
    if len(content) > settings.document_max_bytes:
        raise DocumentTooLargeError(f"The file is larger than {settings.document_max_bytes} bytes.")
    row = await upload_document(
        uow,
        store,
        application_id,
        Upload(
            doc_type=doc_type,
            filename=file.filename or "document",
            content_type=(file.content_type or "").split(";")[0].strip().lower(),
            content=content,
        ),
        max_bytes=settings.document_max_bytes,
        actor=principal.sub,
        clock=clock,
    )
    return document_out(row)


@router.get("/{application_id}/documents", summary="Documents and the checklist")
async def list_documents(
    application_id: str, _: AnyRole, uow: UowDep, catalog: CatalogDep
) -> DocumentList:
    """Every document, the types the product requires for this amount, and what is missing."""
    checklist = await document_checklist(uow, catalog, application_id)
    return DocumentList(
        items=[document_out(d) for d in checklist.documents],
        required=checklist.required,
        missing=checklist.missing,
    )


@router.post(
    "/{application_id}/documents/{document_id}/verify",
    summary="Verify or reject a document",
    responses={
        403: {"description": "four_eyes_violation (uploader) or forbidden role"},
        404: {"description": "application_not_found or document_not_found"},
        409: {"description": "document_already_reviewed"},
    },
)
async def post_verify(
    application_id: str,
    document_id: str,
    body: DocumentVerifyIn,
    principal: Reviewer,
    uow: UowDep,
    clock: ClockDep,
) -> DocumentOut:
    """An underwriter or credit manager checks the document; a comment is mandatory."""
    row = await verify_document(
        uow,
        application_id,
        document_id,
        outcome=body.outcome,
        comment=body.comment,
        actor=principal.sub,
        clock=clock,
    )
    return document_out(row)
