"""Applicant rules: who may apply, and what of their personal data each caller may see."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from los.domain.errors import AgeOutOfRangeError

MIN_AGE = 18
MAX_AGE = 100
# Roles that need the raw identifiers to do their job; everyone else sees them masked.
PII_ROLES = frozenset({"admin", "underwriter"})

# ISO 3166-1 alpha-2 officially assigned codes.
COUNTRY_CODES = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    ]
)

_NATIONAL_ID_NOISE = re.compile(r"[\s\-./]")


class EmploymentStatus(StrEnum):
    """Employment status as declared at onboarding; values are stable for storage."""

    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"


def age_on(date_of_birth: date, today: date) -> int:
    """Whole years completed on `today` (a 29 February birthday counts from 1 March)."""
    years = today.year - date_of_birth.year
    if (today.month, today.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def check_age(date_of_birth: date, today: date) -> int:
    """Refuse applicants outside 18..100 years old on `today`; return the age."""
    age = age_on(date_of_birth, today)
    if not MIN_AGE <= age <= MAX_AGE:
        raise AgeOutOfRangeError(
            f"Applicants must be between {MIN_AGE} and {MAX_AGE} years old (age {age} on {today})."
        )
    return age


def normalise_national_id(national_id: str) -> str:
    """The form duplicates are detected on: no spaces, dashes, dots or slashes; upper case."""
    return _NATIONAL_ID_NOISE.sub("", national_id).upper()


def mask(value: str, visible: int = 4) -> str:
    """Keep the last `visible` characters, hide the rest (at least five stars)."""
    shown = value[-visible:] if len(value) > visible else ""
    return "*" * max(len(value) - len(shown), 5) + shown


def mask_date(_value: date) -> str:
    """A date of birth reveals nothing when masked."""
    return "****-**-**"


def may_see_pii(roles: frozenset[str]) -> bool:
    """Whether a caller with these roles sees raw identifiers."""
    return bool(roles & PII_ROLES)
