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
from los.domain.applicants import (
    DUPLICATE_NAME_THRESHOLD,
    EmploymentStatus,
    check_age,
    check_national_id,
    name_similarity,
    normalise_name,
)
from los.domain.errors import ApplicantExistsError, ApplicantNotFoundError
from los.service.audit import applicant_stream, record
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
    """Onboard a borrower once per national id and issuing country.

    The national id must have its country's format. Another applicant with the same date
    of birth and a near-identical name (difflib ratio >= 0.85) is not refused but flagged:
    the decision engine refers such applications to a person.
    """
    check_age(data.date_of_birth, clock.today())
    country = str(data.address["country"])
    normalised = check_national_id(data.national_id, country)
    key = f"{country}:{normalised}"
    repo = ApplicantRepository(uow.session)
    existing = await repo.get_by_national_id_key(key)
    if existing is not None:
        raise _exists(existing.id)
    name_key = normalise_name(data.first_name, data.last_name)
    duplicates = [
        other.id
        for other in await repo.same_birth_date(data.date_of_birth)
        if name_similarity(
            name_key, other.name_key or normalise_name(other.first_name, other.last_name)
        )
        >= DUPLICATE_NAME_THRESHOLD
    ]
    now = clock.now()
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
        created_at=now,
        created_by=actor,
        id_country=country,
        name_key=name_key,
        possible_duplicate_of=duplicates or None,
    )
    repo.add(row)
    try:
        # The audit names the fields captured, never their values: PII is stored once.
        await record(
            uow.session,
            applicant_stream(row.id),
            actor=actor,
            action="applicant_created",
            at=now,
            after={
                "party_ref": row.party_ref,
                "id_country": country,
                "employment_status": row.employment_status,
                "monthly_income": str(row.monthly_income),
                "possible_duplicate_of": duplicates,
                "pii_fields": [
                    "first_name",
                    "last_name",
                    "date_of_birth",
                    "national_id",
                    "email",
                    "phone",
                    "address",
                ],
            },
        )
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
