"""ISO 4217 currencies and their minor units, the only source of rounding precision."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from loanmath._errors import UnknownCurrencyError


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency; minor_units fixes how many decimals an amount may carry."""

    code: str
    minor_units: int


# Active ISO 4217 codes with their minor units (ISO 4217 list one). Codes without a minor unit
# (precious metals, XDR, testing codes) are left out because they never denominate a loan.
_ZERO_DECIMALS = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
_THREE_DECIMALS = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
_FOUR_DECIMALS = ["CLF", "UYW"]
_TWO_DECIMALS = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BOV",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHE",
    "CHF",
    "CHW",
    "CNY",
    "COP",
    "COU",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MXV",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "USN",
    "UYU",
    "UZS",
    "VED",
    "VES",
    "WST",
    "XCD",
    "XCG",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
]


def _build_table() -> dict[str, Currency]:
    """Build the lookup once so get_currency is a plain dict access."""
    table: dict[str, Currency] = {}
    for units, codes in (
        (0, _ZERO_DECIMALS),
        (2, _TWO_DECIMALS),
        (3, _THREE_DECIMALS),
        (4, _FOUR_DECIMALS),
    ):
        for code in codes:
            table[code] = Currency(code=code, minor_units=units)
    return table


CURRENCIES: MappingProxyType[str, Currency] = MappingProxyType(_build_table())


def get_currency(code: str) -> Currency:
    """Look up a currency by its upper-case ISO code so amounts round to its minor unit."""
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(f"unknown ISO 4217 currency code: {code!r}") from None


def is_supported_currency(code: str) -> bool:
    """Tell whether a code is in the table, for input validation without try/except."""
    return isinstance(code, str) and code in CURRENCIES
