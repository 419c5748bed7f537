"""Onboarding borrowers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from los.adapters.orm import ApplicantRow
from los.adapters.repository import ApplicantRepository
from los.domain.applicants import EmploymentStatus, check_age, normalise_national_id
from los.domain.errors import ApplicantExistsError, ApplicantNotFoundError
from servicekit.clock import Clock
from servicekit.db import UnitOfWork


@dataclass(frozen=True, slots=True)
class NewApplicant:
    """What onboarding asks for."""

    first_name: str
    last_name: str
    date_of_birth: date
    national_id: str
    email: str
    phone: str
    address: dict[str, Any]
    employment_status: EmploymentStatus
    monthly_income: Decimal


def new_party_ref() -> str:
    """An opaque borrower reference for events, unrelated to any personal data."""
    return f"PTY-{uuid.uuid4().hex[:12].upper()}"


async def create_applicant(
    uow: UnitOfWork, data: NewApplicant, *, actor: str, clock: Clock
) -> ApplicantRow:
    """Onboard a borrower once per national id."""
    check_age(data.date_of_birth, clock.today())
    repo = ApplicantRepository(uow.session)
    key = normalise_national_id(data.national_id)
    existing = await repo.get_by_national_id_key(key)
    if existing is not None:
        raise _exists(existing.id)
    row = ApplicantRow(
        id=str(uuid.uuid4()),
        party_ref=new_party_ref(),
        first_name=data.first_name,
        last_name=data.last_name,
        date_of_birth=data.date_of_birth,
        national_id=data.national_id,
        national_id_key=key,
        email=data.email,
        phone=data.phone,
        address=data.address,
        employment_status=data.employment_status.value,
        monthly_income=data.monthly_income,
        created_at=clock.now(),
        created_by=actor,
    )
    repo.add(row)
    try:
        await uow.commit()
    except IntegrityError:
        # Someone onboarded the same national id between our check and our insert.
        await uow.rollback()
        raced = await repo.get_by_national_id_key(key)
        if raced is None:
            raise
        raise _exists(raced.id) from None
    return row


def _exists(existing_id: str) -> ApplicantExistsError:
    return ApplicantExistsError(
        "An applicant with this national id already exists.", existing_id=existing_id
    )


async def get_applicant(uow: UnitOfWork, applicant_id: str) -> ApplicantRow:
    """The applicant, or ApplicantNotFoundError."""
    row = await ApplicantRepository(uow.session).get(applicant_id)
    if row is None:
        raise ApplicantNotFoundError(f"No applicant with id {applicant_id}.")
    return row
