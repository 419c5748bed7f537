"""POST/GET /v1/applicants: onboarding borrowers."""

from __future__ import annotations

from fastapi import status

from los.adapters.orm import ApplicantRow
from los.api.deps import AnyRole, ApplicantAgent
from los.api.schemas import AddressOut, ApplicantIn, ApplicantOut
from los.domain.applicants import mask, mask_date, mask_email, may_see_pii
from los.service.applicants import NewApplicant, create_applicant, get_applicant
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/applicants", tags=["applicants"])


def applicant_out(row: ApplicantRow, *, reveal: bool) -> ApplicantOut:
    """The applicant with national id, phone and date of birth masked unless `reveal`."""
    return ApplicantOut(
        id=row.id,
        party_ref=row.party_ref,
        first_name=row.first_name,
        last_name=row.last_name,
        date_of_birth=row.date_of_birth.isoformat() if reveal else mask_date(row.date_of_birth),
        national_id=row.national_id if reveal else mask(row.national_id),
        email=row.email if reveal else mask_email(row.email),
        phone=row.phone if reveal else mask(row.phone),
        address=AddressOut.model_validate(row.address),
        employment_status=row.employment_status,
        monthly_income=row.monthly_income,
        created_at=row.created_at,
        pii_masked=not reveal,
        possible_duplicate_of=list(row.possible_duplicate_of or []),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Onboard a borrower",
    responses={409: {"description": "applicant_exists: same national id, with existing_id"}},
)
async def post_applicant(
    body: ApplicantIn, principal: ApplicantAgent, uow: UowDep, clock: ClockDep
) -> ApplicantOut:
    """Create an applicant; the national id may be onboarded once."""
    data = NewApplicant(
        first_name=body.first_name,
        last_name=body.last_name,
        date_of_birth=body.date_of_birth,
        national_id=body.national_id,
        email=body.email,
        phone=body.phone,
        address=body.address.model_dump(),
        employment_status=body.employment_status,
        monthly_income=body.monthly_income,
    )
    row = await create_applicant(uow, data, actor=principal.sub, clock=clock)
    return applicant_out(row, reveal=may_see_pii(principal.roles))


@router.get("/{applicant_id}", summary="One applicant")
async def read_applicant(applicant_id: str, principal: AnyRole, uow: UowDep) -> ApplicantOut:
    """The applicant; only admins and underwriters see raw identifiers."""
    row = await get_applicant(uow, applicant_id)
    return applicant_out(row, reveal=may_see_pii(principal.roles))
