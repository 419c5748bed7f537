"""Identity (KYC), sanctions/PEP screening and credit bureau results, as the decision reads them.

Providers live in `los.adapters.providers`; this module holds what is pure: the result
types, the sandbox outcomes and the fuzzy sanctions matching.

Sandbox outcomes, derived only from the normalised national id (so tests and demos pick
them by choosing the id). `suffix` is the id's last two characters:

=========  ==============================================================
suffix     outcome
=========  ==============================================================
KYC
``00``     identity check fails (``IDENTITY_NOT_VERIFIED``)
``11``     identity check needs manual review (``IDENTITY_REVIEW``)
other      identity verified
BUREAU
``22``     no credit file found (thin file)
``33``     a default in the last 24 months
``44``     two 30+ day delinquencies in the last 12 months
``55``     bureau shows 1500.00 of monthly debt payments
``66``     bureau score 450 (below every product's minimum)
other      clean file; score 600 + (first two bytes of SHA-256(id) mod 200),
           monthly debt 0.00, open accounts 1 + (that number mod 5)
=========  ==============================================================

Any id ending in a letter (e.g. a GB National Insurance number) takes the `other` rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from los.domain.applicants import normalise_name, similarity_reaching, tokens_sorted


class CheckKind(StrEnum):
    """What was checked."""

    KYC = "kyc"
    SANCTIONS = "sanctions"
    BUREAU = "bureau"


class CheckStatus(StrEnum):
    """How a check ended; `error` means the provider could not answer (timeout, garbage)."""

    PASSED = "passed"
    FAILED = "failed"
    REVIEW = "review"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One provider answer, stored as an auditable check record."""

    kind: CheckKind
    provider: str
    status: CheckStatus
    reference: str | None = None
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    raw: str | None = None
    error: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class IdentityQuery:
    """What identity and screening providers are asked about; never logged."""

    first_name: str
    last_name: str
    date_of_birth: date
    national_id: str
    country: str


@dataclass(frozen=True, slots=True)
class BureauReport:
    """The figures of a bureau report the policy reads."""

    file_found: bool
    score: int | None
    monthly_debt: Decimal
    open_accounts: int
    delinquencies_12m: int
    defaults_24m: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, as stored with the check."""
        return {
            "file_found": self.file_found,
            "score": self.score,
            "monthly_debt": str(self.monthly_debt),
            "open_accounts": self.open_accounts,
            "delinquencies_12m": self.delinquencies_12m,
            "defaults_24m": self.defaults_24m,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BureauReport:
        """Parse a stored or received report; raises ValueError/KeyError/TypeError if bad."""
        score = data["score"]
        if score is not None and (not isinstance(score, int) or isinstance(score, bool)):
            raise TypeError("score must be an integer or null")
        ints = {}
        for key in ("open_accounts", "delinquencies_12m", "defaults_24m"):
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TypeError(f"{key} must be a non-negative integer")
            ints[key] = value
        debt = Decimal(str(data["monthly_debt"]))
        if not debt.is_finite() or debt < 0:
            raise ValueError("monthly_debt must be a non-negative decimal")
        found = data["file_found"]
        if not isinstance(found, bool):
            raise TypeError("file_found must be a boolean")
        return cls(found, score, debt, **ints)


def _suffix(national_id_key: str) -> str:
    return national_id_key[-2:]


def sandbox_kyc(query: IdentityQuery, national_id_key: str) -> CheckResult:
    """The sandbox identity check (see the module docstring)."""
    suffix = _suffix(national_id_key)
    reasons: tuple[str, ...]
    ref = "SBX-KYC-" + hashlib.sha256(national_id_key.encode()).hexdigest()[:12].upper()
    if suffix == "00":
        status, reasons = CheckStatus.FAILED, ("IDENTITY_NOT_VERIFIED",)
    elif suffix == "11":
        status, reasons = CheckStatus.REVIEW, ("IDENTITY_REVIEW",)
    else:
        status, reasons = CheckStatus.PASSED, ()
    return CheckResult(
        CheckKind.KYC,
        "sandbox",
        status,
        reference=ref,
        reasons=reasons,
        details={"country": query.country, "document_match": status is CheckStatus.PASSED},
    )


def sandbox_bureau_report(national_id_key: str) -> BureauReport:
    """The sandbox bureau report (see the module docstring)."""
    digest = hashlib.sha256(national_id_key.encode()).digest()
    number = int.from_bytes(digest[:2], "big") % 200
    clean = BureauReport(True, 600 + number, Decimal("0.00"), 1 + number % 5, 0, 0)
    suffix = _suffix(national_id_key)
    if suffix == "22":
        return BureauReport(False, None, Decimal("0.00"), 0, 0, 0)
    if suffix == "33":
        return BureauReport(True, 540, Decimal("350.00"), 4, 3, 1)
    if suffix == "44":
        return BureauReport(True, 610, Decimal("200.00"), 3, 2, 0)
    if suffix == "55":
        return BureauReport(True, 680, Decimal("1500.00"), 6, 0, 0)
    if suffix == "66":
        return BureauReport(True, 450, Decimal("100.00"), 2, 0, 0)
    return clean


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """One name on the shipped sanctions or PEP list."""

    list_name: str
    name: str
    date_of_birth: date | None
    country: str | None
    #: The name as screening compares it (normalised, tokens in order), worked out once.
    compared_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compared_name", tokens_sorted(normalise_name(self.name, "")))


SANCTIONS_MATCH_THRESHOLD = Decimal("0.88")


@dataclass(frozen=True, slots=True)
class ScreeningHit:
    """A list entry whose name is close enough to the applicant's."""

    list_name: str
    name: str
    similarity: Decimal
    dob_matches: bool


def screen(
    full_name: str, date_of_birth: date, entries: Iterable[WatchlistEntry], list_version: str
) -> CheckResult:
    """Fuzzy-match a normalised name against the list (difflib ratio, token order ignored).

    failed  a SANCTIONS entry matches the name and the date of birth
    review  any other entry at or above the threshold (a potential match or a PEP)
    passed  nothing close enough
    """
    left = tokens_sorted(full_name)
    hits = [
        ScreeningHit(
            e.list_name,
            e.name,
            sim,
            e.date_of_birth is not None and e.date_of_birth == date_of_birth,
        )
        for e in entries
        if (sim := similarity_reaching(left, e.compared_name, SANCTIONS_MATCH_THRESHOLD))
        is not None
    ]
    hits.sort(key=lambda h: (-h.similarity, h.name))
    reasons: list[str] = []
    if any(h.list_name == "SANCTIONS" and h.dob_matches for h in hits):
        status = CheckStatus.FAILED
        reasons.append("SANCTIONS_MATCH")
    elif hits:
        status = CheckStatus.REVIEW
        if any(h.list_name == "SANCTIONS" for h in hits):
            reasons.append("SANCTIONS_POTENTIAL_MATCH")
        if any(h.list_name == "PEP" for h in hits):
            reasons.append("PEP_MATCH")
    else:
        status = CheckStatus.PASSED
    return CheckResult(
        CheckKind.SANCTIONS,
        f"watchlist:{list_version}",
        status,
        reasons=tuple(reasons),
        details={
            "threshold": str(SANCTIONS_MATCH_THRESHOLD),
            "hits": [
                {
                    "list": h.list_name,
                    "name": h.name,
                    "similarity": str(h.similarity),
                    "dob_matches": h.dob_matches,
                }
                for h in hits
            ],
        },
    )
