"""A currency-tagged Decimal amount, so amounts in different currencies never mix silently."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from loanmath._currency import get_currency
from loanmath._errors import CurrencyMismatchError
from loanmath._numeric import work_context
from loanmath._rounding import RoundingMode, as_decimal, round_money


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a known currency; refuses floats so binary rounding never touches money."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        """Normalise int amounts and reject floats and unknown currencies at the boundary."""
        object.__setattr__(self, "amount", as_decimal(self.amount, "Money amount"))
        get_currency(self.currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Self:
        """Build from a decimal string such as "12.34", the form amounts arrive in over APIs."""
        if isinstance(amount, str):
            try:
                value = Decimal(amount.strip())
            except ArithmeticError:
                raise ValueError(f"not a decimal amount: {amount!r}") from None
            return cls(value, currency)
        return cls(as_decimal(amount, "Money amount"), currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        """Return zero at the currency's minor unit, the identity for summing amounts."""
        return cls(round_money(Decimal(0), currency), currency)

    def is_zero(self) -> bool:
        """Tell whether the amount is zero, mirroring Decimal.is_zero."""
        return self.amount.is_zero()

    def rounded(self, mode: RoundingMode = RoundingMode.HALF_EVEN) -> Money:
        """Return the amount at the currency's minor unit via the engine's single rounding rule."""
        return Money(round_money(self.amount, self.currency, mode), self.currency)

    def _same_currency(self, other: Money) -> None:
        """Refuse to combine currencies, since that would need an exchange rate."""
        if self.currency != other.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: object) -> Money:
        """Add two amounts of the same currency."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(work_context().add(self.amount, other.amount), self.currency)

    def __sub__(self, other: object) -> Money:
        """Subtract two amounts of the same currency."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(work_context().subtract(self.amount, other.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        """Scale by a Decimal (or int) factor; the result is unrounded until rounded() is called."""
        if isinstance(factor, float | Money) or not isinstance(factor, Decimal | int):
            return NotImplemented
        scale = as_decimal(factor, "factor")
        return Money(work_context().multiply(self.amount, scale), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        """Negate, for reversals and refunds."""
        return Money(self.amount.copy_negate(), self.currency)

    def _amounts(self, other: object) -> tuple[Decimal, Decimal] | None:
        """Return both amounts for ordering, or None when other is not Money."""
        if not isinstance(other, Money):
            return None
        self._same_currency(other)
        return self.amount, other.amount

    def __lt__(self, other: object) -> bool:
        """Order amounts of the same currency."""
        pair = self._amounts(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        """Order amounts of the same currency."""
        pair = self._amounts(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        """Order amounts of the same currency."""
        pair = self._amounts(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        """Order amounts of the same currency."""
        pair = self._amounts(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]

    def __str__(self) -> str:
        """Render as "12.34 USD" for logs and messages."""
        return f"{self.amount} {self.currency}"
