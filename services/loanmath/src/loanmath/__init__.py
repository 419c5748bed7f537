"""Pure finance math shared by origination and servicing, so offers and booked loans agree."""

from loanmath._apr import annual_percentage_rate, eu_aprc
from loanmath._calendar import (
    BusinessDayConvention,
    CountryHolidayCalendar,
    HolidayCalendar,
    WeekendCalendar,
    adjust_date,
    holiday_calendar,
)
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
from loanmath._regenerate import (
    Prepayment,
    PrepaymentEffect,
    RateChange,
    ScheduleChange,
    regenerate_schedule,
)
from loanmath._rounding import RoundingMode, round_money
from loanmath._schedule import (
    AmortizationMethod,
    BrokenPeriodInterest,
    GraceInterest,
    Installment,
    InterestBasis,
    MinorRow,
    Schedule,
    ScheduleTerms,
    build_schedule,
)

__all__ = [
    "CURRENCIES",
    "AmortizationMethod",
    "BrokenPeriodInterest",
    "BusinessDayConvention",
    "CountryHolidayCalendar",
    "Currency",
    "CurrencyMismatchError",
    "DayCount",
    "Frequency",
    "GraceInterest",
    "HolidayCalendar",
    "Installment",
    "InterestBasis",
    "InvalidCashFlowsError",
    "InvalidTermsError",
    "LoanMathError",
    "MinorRow",
    "Money",
    "Prepayment",
    "PrepaymentEffect",
    "RateChange",
    "RoundingMode",
    "Schedule",
    "ScheduleChange",
    "ScheduleTerms",
    "UnknownCurrencyError",
    "WeekendCalendar",
    "adjust_date",
    "annual_percentage_rate",
    "build_schedule",
    "due_dates",
    "eu_aprc",
    "get_currency",
    "holiday_calendar",
    "is_supported_currency",
    "periods_per_year",
    "regenerate_schedule",
    "round_money",
    "year_fraction",
]
