"""Manual review rules: staged approvals by role, four eyes and counter-offers."""

from __future__ import annotations

from decimal import Decimal

from los.domain.errors import InvalidCounterOfferError, InvalidRequestError
from los.domain.products import Product

UNDERWRITER_STAGE = "underwriter"
CREDIT_MANAGER_STAGE = "credit_manager"
# Roles that may decide at each stage; admin passes everything in servicekit's auth.
STAGE_ROLES: dict[str, frozenset[str]] = {
    UNDERWRITER_STAGE: frozenset({"underwriter", "credit_manager", "admin"}),
    CREDIT_MANAGER_STAGE: frozenset({"credit_manager", "admin"}),
}


def required_stages(product: Product, amount: Decimal) -> tuple[str, ...]:
    """An underwriter always; a credit manager too above the product's threshold."""
    if product.needs_second_approval(amount):
        return (UNDERWRITER_STAGE, CREDIT_MANAGER_STAGE)
    return (UNDERWRITER_STAGE,)


def may_decide_at(stage: str, roles: frozenset[str]) -> bool:
    """Whether someone with `roles` may decide at `stage`."""
    return bool(STAGE_ROLES[stage] & roles)


def check_counter_offer(
    product: Product,
    requested_amount: Decimal,
    requested_term: int,
    amount: Decimal | None,
    term: int | None,
) -> tuple[Decimal, int]:
    """A counter-offer lowers the amount and/or lengthens the term, within product limits."""
    new_amount = requested_amount if amount is None else amount
    new_term = requested_term if term is None else term
    if new_amount > requested_amount:
        raise InvalidCounterOfferError("A counter-offer cannot raise the amount.")
    if new_term < requested_term:
        raise InvalidCounterOfferError("A counter-offer cannot shorten the term.")
    if (new_amount, new_term) == (requested_amount, requested_term):
        raise InvalidCounterOfferError(
            "A counter-offer must lower the amount or lengthen the term."
        )
    try:
        product.check_request(new_amount, product.currency, new_term)
    except InvalidRequestError as exc:
        raise InvalidCounterOfferError(f"Counter-offer outside product limits: {exc}") from exc
    return new_amount, new_term
