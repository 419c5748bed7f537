"""Pin the public API: other services import these names, so changes must be deliberate."""

import importlib
import pkgutil

import loanmath

EXPECTED_API = [
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

# Helpers the private modules share with each other but deliberately keep out of the API.
INTERNAL_HELPERS = {
    "add_months",
    "annuity_payment",
    "as_decimal",
    "divide_for_rounding",
    "minor_units",
    "nominal_period_rate",
    "period_rates",
    "regular_period_start",
    "round_div",
    "sticky_context",
    "work_context",
    "year_fraction_ratio",
}


def test_all_is_pinned() -> None:
    assert loanmath.__all__ == EXPECTED_API


def test_every_exported_name_resolves() -> None:
    for name in loanmath.__all__:
        assert getattr(loanmath, name) is not None


def test_private_modules_export_every_public_member() -> None:
    exported = set(loanmath.__all__)
    for info in pkgutil.iter_modules(loanmath.__path__):
        assert info.name.startswith("_"), f"module {info.name} should be private"
        module = importlib.import_module(f"loanmath.{info.name}")
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            assert name in exported or name in INTERNAL_HELPERS, (
                f"{module.__name__}.{name} is public but neither exported nor listed as internal"
            )


def test_internal_helpers_are_not_exported() -> None:
    assert not INTERNAL_HELPERS & set(loanmath.__all__)


def test_only_standard_library_is_imported() -> None:
    import ast
    import sys
    from pathlib import Path

    for path in Path(loanmath.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                # holidays (public-holiday tables) is the one allowed third-party import.
                allowed = root in {"loanmath", "holidays"} or root in sys.stdlib_module_names
                assert allowed, (path.name, root)
