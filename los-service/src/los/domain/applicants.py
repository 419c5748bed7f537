"""Applicant rules: who may apply, and what of their personal data each caller may see."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from enum import StrEnum

from los.domain.errors import AgeOutOfRangeError, InvalidNationalIdError

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


# National id formats checked per country (after normalise_national_id). Other countries
# only get the generic shape check of the API schema.
#   US  Social Security Number: 9 digits; area not 000, 666 or 9xx; group and serial not 0.
#   GB  National Insurance number: 2 letters (not D, F, I, Q, U, V; 2nd not O), 6 digits,
#       suffix A-D.
#   IN  Aadhaar: 12 digits, not starting with 0 or 1.
#   DE  Steuerliche Identifikationsnummer: 11 digits, not starting with 0.
#   NG  National Identification Number: 11 digits.
#   KE  National ID card number: 7 or 8 digits.
#   BR  CPF: 11 digits with its two mod-11 check digits.
_NATIONAL_ID_FORMATS: dict[str, re.Pattern[str]] = {
    "US": re.compile(r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}"),
    "GB": re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]"),
    "IN": re.compile(r"[2-9]\d{11}"),
    "DE": re.compile(r"[1-9]\d{10}"),
    "NG": re.compile(r"\d{11}"),
    "KE": re.compile(r"\d{7,8}"),
    "BR": re.compile(r"\d{11}"),
}
NATIONAL_ID_COUNTRIES = frozenset(_NATIONAL_ID_FORMATS)


def _cpf_ok(digits: str) -> bool:
    """Both CPF check digits (mod 11) match, and not all digits are equal."""
    if len(set(digits)) == 1:
        return False
    for length in (9, 10):
        total = sum(int(d) * (length + 1 - i) for i, d in enumerate(digits[:length]))
        check = (total * 10) % 11 % 10
        if check != int(digits[length]):
            return False
    return True


def check_national_id(national_id: str, country: str) -> str:
    """Validate the id's format for its issuing country; return the normalised form."""
    key = normalise_national_id(national_id)
    pattern = _NATIONAL_ID_FORMATS.get(country)
    if pattern is None:
        return key
    if not pattern.fullmatch(key) or (country == "BR" and not _cpf_ok(key)):
        raise InvalidNationalIdError(f"The national id does not have the format used in {country}.")
    return key


def identity_key(national_id: str, country: str) -> str:
    """What makes a person unique: the issuing country and the normalised national id."""
    return f"{country}:{normalise_national_id(national_id)}"


def normalise_name(first_name: str, last_name: str) -> str:
    """Lower case, accents folded, single spaces: the form names are compared in."""
    text = unicodedata.normalize("NFKD", f"{first_name} {last_name}")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z ]", " ", text).split())


def name_similarity(a: str, b: str) -> Decimal:
    """difflib ratio of two normalised names, order of the tokens ignored, to 4 places."""
    ratio = SequenceMatcher(None, tokens_sorted(a), tokens_sorted(b)).ratio()
    return Decimal(str(round(ratio, 4)))


def tokens_sorted(name: str) -> str:
    """A normalised name with its tokens in order: the form `name_similarity` compares."""
    return " ".join(sorted(name.split()))


def similarity_reaching(left: str, right: str, threshold: Decimal) -> Decimal | None:
    """`name_similarity` of two `tokens_sorted` names if it reaches `threshold`, else None.

    difflib's two cheap upper bounds of the ratio (lengths, then letters in common) rule
    most pairs out before the full comparison; the margin keeps a ratio that rounds up to
    the threshold.
    """
    matcher = SequenceMatcher(None, left, right)
    bound = float(threshold) - 0.0001
    if matcher.real_quick_ratio() < bound or matcher.quick_ratio() < bound:
        return None
    similarity = Decimal(str(round(matcher.ratio(), 4)))
    return similarity if similarity >= threshold else None


DUPLICATE_NAME_THRESHOLD = Decimal("0.85")


def mask_email(email: str) -> str:
    """First character of the local part and the domain: 'a****@example.com'."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}****@{domain}"
