"""Pure finance math shared by origination and servicing, so offers and booked loans agree."""

from loanmath._apr import annual_percentage_rate, eu_aprc
from loanmath._currency import CURRENCIES, Currency, get_currency, is_supported_currency
from loanmath._daycount import DayCount, year_fraction
from loanmath._errors import (
    CurrencyMismatchError,
    InvalidCashFlowsError,
    InvalidTermsError,
    LoanMathError,
    UnknownCurrencyError,
)
from loanmath._frequency import Frequency, due_dates, periods_per_year
from loanmath._money import Money
from loanmath._rounding import RoundingMode, round_money
from loanmath._schedule import (
    AmortizationMethod,
    Installment,
    InterestBasis,
    Schedule,
    ScheduleTerms,
    build_schedule,
)

__all__ = [
    "CURRENCIES",
    "AmortizationMethod",
    "Currency",
    "CurrencyMismatchError",
    "DayCount",
    "Frequency",
    "Installment",
    "InterestBasis",
    "InvalidCashFlowsError",
    "InvalidTermsError",
    "LoanMathError",
    "Money",
    "RoundingMode",
    "Schedule",
    "ScheduleTerms",
    "UnknownCurrencyError",
    "annual_percentage_rate",
    "build_schedule",
    "due_dates",
    "eu_aprc",
    "get_currency",
    "is_supported_currency",
    "periods_per_year",
    "round_money",
    "year_fraction",
]
