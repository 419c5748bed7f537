"""Loan products: the terms a catalog file declares and the checks a request must pass.

The catalog is data (a versioned TOML file shipped with the package); this module only
parses and validates it, so a bad file fails at start-up with a message naming the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, get_args

from lending_schemas.v1 import loan_disbursed as contract
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    RoundingMode,
    get_currency,
    is_supported_currency,
    round_money,
)
from los.domain.errors import (
    AmountOutOfRangeError,
    CatalogError,
    TermOutOfRangeError,
    UnknownProductError,
    UnsupportedCurrencyError,
)

_E = TypeVar("_E", Frequency, AmortizationMethod, DayCount, InterestBasis, RoundingMode)

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")
ALLOCATION_BUCKETS = frozenset({"penalties", "fees", "interest", "principal"})
FEE_TREATMENTS = frozenset(get_args(contract.FeeTreatment))


FEE_KINDS = frozenset({"percentage", "flat"})
PRODUCT_KINDS = frozenset({"personal", "auto", "msme", "short_term", "invoice"})
EMPLOYMENT_VALUES = frozenset({"employed", "self_employed", "unemployed", "retired", "student"})


@dataclass(frozen=True, slots=True)
class FeeRule:
    """A fee: a percentage of the principal clamped to [minimum, maximum], or a flat amount.

    Treatment: `deducted` comes out of the payout; `upfront` is paid by the borrower at
    signing; `financed` is capitalised into the principal and paid out of the proceeds.
    """

    code: str
    rate: Decimal
    minimum: Decimal
    maximum: Decimal
    treatment: str
    kind: str = "percentage"
    flat_amount: Decimal = Decimal(0)

    def amount_for(self, principal: Decimal, currency: str, mode: RoundingMode) -> Decimal:
        """The fee in money, rounded with the product's rule, then clamped."""
        if self.kind == "flat":
            return self.flat_amount
        raw = round_money(principal * self.rate, currency, mode)
        return min(max(raw, self.minimum), self.maximum)


@dataclass(frozen=True, slots=True)
class DocumentRequirement:
    """A document the application needs before acceptance, always or above an amount."""

    doc_type: str
    above_amount: Decimal | None = None

    def applies_to(self, amount: Decimal) -> bool:
        """Whether an application for `amount` needs this document."""
        return self.above_amount is None or amount > self.above_amount


@dataclass(frozen=True, slots=True)
class ProductPolicy:
    """Product eligibility and credit-policy limits read by the decision engine."""

    min_age: int = 18
    max_age_at_maturity: int = 75
    eligible_employment: frozenset[str] = EMPLOYMENT_VALUES - {"unemployed"}
    max_exposure: Decimal | None = None
    min_residual_income: Decimal = Decimal(0)
    min_bureau_score: int = 0
    # "installment": DTI counts the whole installment; "interest": only its interest (for
    # receivables finance, where a third party repays the principal).
    affordability_basis: str = "installment"


@dataclass(frozen=True, slots=True)
class PenaltyTerms:
    """Late-payment terms passed on to servicing."""

    late_fee_flat: Decimal
    penalty_rate_annual: Decimal
    grace_days: int


@dataclass(frozen=True, slots=True)
class Product:
    """One loan product at one version."""

    code: str
    name: str
    version: int
    currency: str
    min_amount: Decimal
    max_amount: Decimal
    min_term: int
    max_term: int
    frequency: Frequency
    method: AmortizationMethod
    day_count: DayCount
    interest_basis: InterestBasis
    rounding_mode: RoundingMode
    rates: Mapping[str, Decimal]
    fees: tuple[FeeRule, ...]
    allocation_order: tuple[str, ...]
    penalty: PenaltyTerms
    max_dti_approve: Decimal
    max_dti_refer: Decimal
    kind: str = "personal"
    description: str = ""
    required_documents: tuple[DocumentRequirement, ...] = ()
    policy: ProductPolicy = ProductPolicy()
    second_approval_above: Decimal | None = None

    def documents_for(self, amount: Decimal) -> tuple[str, ...]:
        """Document types an application for `amount` must have verified."""
        return tuple(r.doc_type for r in self.required_documents if r.applies_to(amount))

    def needs_second_approval(self, amount: Decimal) -> bool:
        """Whether a manual approval of `amount` also needs a credit manager."""
        return self.second_approval_above is not None and amount > self.second_approval_above

    @property
    def min_rate(self) -> Decimal:
        """The best grade's rate."""
        return min(self.rates.values())

    @property
    def max_rate(self) -> Decimal:
        """The worst grade's rate."""
        return max(self.rates.values())

    def rate_for(self, grade: str) -> Decimal:
        """The nominal annual rate for a risk grade."""
        return self.rates[grade]

    def check_request(self, amount: Decimal, currency: str, term: int) -> None:
        """Refuse a request outside this product's currency, amount or term limits."""
        if not is_supported_currency(currency):
            raise UnsupportedCurrencyError(f"{currency!r} is not an ISO 4217 currency code.")
        if currency != self.currency:
            raise UnsupportedCurrencyError(
                f"Product {self.code} lends in {self.currency}, not {currency}."
            )
        if amount != round_money(amount, currency, self.rounding_mode):
            raise AmountOutOfRangeError(
                f"Amount {amount} has more decimals than {currency} allows."
            )
        if not self.min_amount <= amount <= self.max_amount:
            raise AmountOutOfRangeError(
                f"Amount must be between {self.min_amount} and {self.max_amount} {currency}."
            )
        if not self.min_term <= term <= self.max_term:
            raise TermOutOfRangeError(
                f"Term must be between {self.min_term} and {self.max_term} installments."
            )


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every product on offer, by code."""

    version: str
    products: Mapping[str, Product]

    def get(self, code: str) -> Product:
        """The product with this code, or UnknownProductError."""
        try:
            return self.products[code]
        except KeyError:
            raise UnknownProductError(f"No product with code {code!r}.") from None

    def list(self) -> list[Product]:
        """Products in code order."""
        return [self.products[c] for c in sorted(self.products)]


def parse_catalog(text: str) -> Catalog:
    """Parse and validate a catalog document; raise CatalogError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from exc
    version = _str(data, "catalog_version", "catalog")
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise CatalogError("catalog: 'products' must be a non-empty array of tables")
    products: dict[str, Product] = {}
    for index, raw in enumerate(raw_products):
        if not isinstance(raw, dict):
            raise CatalogError(f"products[{index}] must be a table")
        product = _parse_product(raw, f"products[{index}]")
        if product.code in products:
            raise CatalogError(f"{product.code}: product code appears twice")
        products[product.code] = product
    return Catalog(version=version, products=products)


def _parse_product(raw: Mapping[str, Any], where: str) -> Product:
    code = _str(raw, "code", where)
    where = f"product {code}"
    currency = _str(raw, "currency", where)
    if not is_supported_currency(currency):
        raise CatalogError(f"{where}: currency {currency!r} is not ISO 4217")
    minor = get_currency(currency).minor_units
    min_amount = _money(raw, "min_amount", where, minor)
    max_amount = _money(raw, "max_amount", where, minor)
    if not Decimal(0) < min_amount <= max_amount:
        raise CatalogError(f"{where}: need 0 < min_amount <= max_amount")
    min_term = _int(raw, "min_term", where)
    max_term = _int(raw, "max_term", where)
    if not 1 <= min_term <= max_term:
        raise CatalogError(f"{where}: need 1 <= min_term <= max_term")
    rates_raw = raw.get("rates")
    if not isinstance(rates_raw, dict) or set(rates_raw) != set(GRADES):
        raise CatalogError(f"{where}: 'rates' must give exactly the grades {', '.join(GRADES)}")
    rates = {g: _decimal(rates_raw, g, f"{where} rates") for g in GRADES}
    ordered = [rates[g] for g in GRADES]
    if any(r < 0 or r >= 1 for r in ordered) or ordered != sorted(ordered):
        raise CatalogError(f"{where}: rates must be fractions in [0, 1) rising from A to E")
    fees = tuple(
        _parse_fee(f, f"{where} fees[{i}]", minor) for i, f in enumerate(_list(raw, "fees", where))
    )
    allocation = tuple(str(b) for b in _list(raw, "allocation_order", where))
    if len(allocation) != len(ALLOCATION_BUCKETS) or set(allocation) != ALLOCATION_BUCKETS:
        raise CatalogError(
            f"{where}: allocation_order must list penalties, fees, interest, principal once each"
        )
    penalty_raw = raw.get("penalty")
    if not isinstance(penalty_raw, dict):
        raise CatalogError(f"{where}: 'penalty' table is required")
    penalty = PenaltyTerms(
        late_fee_flat=_money(penalty_raw, "late_fee_flat", f"{where} penalty", minor),
        penalty_rate_annual=_decimal(penalty_raw, "penalty_rate_annual", f"{where} penalty"),
        grace_days=_int(penalty_raw, "grace_days", f"{where} penalty", minimum=0),
    )
    max_dti_approve = _decimal(raw, "max_dti_approve", where)
    max_dti_refer = _decimal(raw, "max_dti_refer", where)
    if not Decimal(0) < max_dti_approve <= max_dti_refer:
        raise CatalogError(f"{where}: need 0 < max_dti_approve <= max_dti_refer")
    kind = str(raw.get("kind", "personal"))
    if kind not in PRODUCT_KINDS:
        raise CatalogError(f"{where}: kind must be one of {sorted(PRODUCT_KINDS)}")
    documents = tuple(
        _parse_document(d, f"{where} required_documents[{i}]", minor)
        for i, d in enumerate(raw.get("required_documents", []))
    )
    second = (
        _money(raw, "second_approval_above", where, minor)
        if "second_approval_above" in raw
        else None
    )
    return Product(
        code=code,
        name=_str(raw, "name", where),
        version=_int(raw, "version", where),
        currency=currency,
        min_amount=min_amount,
        max_amount=max_amount,
        min_term=min_term,
        max_term=max_term,
        frequency=_enum(Frequency, raw, "frequency", where, contract.PaymentFrequency),
        method=_enum(AmortizationMethod, raw, "method", where, contract.AmortizationMethod),
        day_count=_enum(DayCount, raw, "day_count", where, contract.DayCount),
        interest_basis=_enum(InterestBasis, raw, "interest_basis", where, contract.InterestBasis),
        rounding_mode=_enum(RoundingMode, raw, "rounding_mode", where, contract.RoundingMode),
        rates=rates,
        fees=fees,
        allocation_order=allocation,
        penalty=penalty,
        max_dti_approve=max_dti_approve,
        max_dti_refer=max_dti_refer,
        kind=kind,
        description=str(raw.get("description", "")),
        required_documents=documents,
        policy=_parse_policy(raw.get("policy", {}), f"{where} policy", minor),
        second_approval_above=second,
    )


def _parse_document(raw: Any, where: str, minor: int) -> DocumentRequirement:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table")
    above = _money(raw, "above_amount", where, minor) if "above_amount" in raw else None
    return DocumentRequirement(_str(raw, "type", where), above)


def _parse_policy(raw: Any, where: str, minor: int) -> ProductPolicy:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table")
    default = ProductPolicy()
    employment = raw.get("eligible_employment")
    if employment is None:
        eligible = default.eligible_employment
    else:
        if not isinstance(employment, list) or not set(employment) <= EMPLOYMENT_VALUES:
            raise CatalogError(
                f"{where}: eligible_employment must list values of {sorted(EMPLOYMENT_VALUES)}"
            )
        eligible = frozenset(str(e) for e in employment)
    policy = ProductPolicy(
        min_age=_int(raw, "min_age", where) if "min_age" in raw else default.min_age,
        max_age_at_maturity=_int(raw, "max_age_at_maturity", where)
        if "max_age_at_maturity" in raw
        else default.max_age_at_maturity,
        eligible_employment=eligible,
        max_exposure=_money(raw, "max_exposure", where, minor) if "max_exposure" in raw else None,
        min_residual_income=_money(raw, "min_residual_income", where, minor)
        if "min_residual_income" in raw
        else default.min_residual_income,
        min_bureau_score=_int(raw, "min_bureau_score", where, minimum=0)
        if "min_bureau_score" in raw
        else default.min_bureau_score,
        affordability_basis=str(raw.get("affordability_basis", default.affordability_basis)),
    )
    if policy.affordability_basis not in ("installment", "interest"):
        raise CatalogError(f"{where}: affordability_basis must be 'installment' or 'interest'")
    if policy.max_age_at_maturity <= policy.min_age:
        raise CatalogError(f"{where}: need min_age < max_age_at_maturity")
    return policy


def _parse_fee(raw: Any, where: str, minor: int) -> FeeRule:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table")
    kind = raw.get("kind")
    if kind not in FEE_KINDS:
        raise CatalogError(f"{where}: kind must be 'percentage' or 'flat'")
    treatment = _str(raw, "treatment", where)
    if treatment not in FEE_TREATMENTS:
        raise CatalogError(f"{where}: treatment must be one of {sorted(FEE_TREATMENTS)}")
    if kind == "flat":
        amount = _money(raw, "amount", where, minor)
        if amount <= 0:
            raise CatalogError(f"{where}: a flat fee needs amount > 0")
        return FeeRule(
            _str(raw, "code", where), Decimal(0), amount, amount, treatment, "flat", amount
        )
    rate = _decimal(raw, "rate", where)
    minimum = _money(raw, "min", where, minor)
    maximum = _money(raw, "max", where, minor)
    if rate < 0 or minimum < 0 or maximum < minimum:
        raise CatalogError(f"{where}: need rate >= 0 and 0 <= min <= max")
    return FeeRule(_str(raw, "code", where), rate, minimum, maximum, treatment)


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: '{key}' must be a non-empty string")
    return value


def _int(raw: Mapping[str, Any], key: str, where: str, minimum: int = 1) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise CatalogError(f"{where}: '{key}' must be an integer >= {minimum}")
    return value


def _decimal(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = raw.get(key)
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a decimal string such as \"0.10\"")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise CatalogError(f"{where}: '{key}' = {value!r} is not a decimal") from None
    if not result.is_finite():
        raise CatalogError(f"{where}: '{key}' must be finite")
    return result


def _money(raw: Mapping[str, Any], key: str, where: str, minor_units: int) -> Decimal:
    value = _decimal(raw, key, where)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > minor_units:
        raise CatalogError(f"{where}: '{key}' has more than {minor_units} decimals")
    return value


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise CatalogError(f"{where}: '{key}' must be an array")
    return value


def _enum(enum: type[_E], raw: Mapping[str, Any], key: str, where: str, contract: Any) -> _E:
    """A loanmath enum value the event contract can also carry to servicing."""
    value = _str(raw, key, where)
    allowed = [v for v in get_args(contract) if v in {m.value for m in enum}]
    if value not in allowed:
        raise CatalogError(f"{where}: '{key}' = {value!r} is not one of {', '.join(allowed)}")
    return enum(value)
