"""GET /v1/products: the catalog."""

from __future__ import annotations

from los.api.deps import AnyRole, CatalogDep
from los.api.schemas import (
    DocumentRequirementOut,
    ProductFeeOut,
    ProductList,
    ProductOut,
    ProductPolicyOut,
)
from los.domain.products import Product
from servicekit.routing import api_router

router = api_router(prefix="/v1/products", tags=["products"])


def product_out(p: Product) -> ProductOut:
    """The public view of a product."""
    return ProductOut(
        code=p.code,
        name=p.name,
        version=p.version,
        currency=p.currency,
        min_amount=p.min_amount,
        max_amount=p.max_amount,
        min_term=p.min_term,
        max_term=p.max_term,
        frequency=p.frequency.value,
        method=p.method.value,
        day_count=p.day_count.value,
        interest_basis=p.interest_basis.value,
        rounding_mode=p.rounding_mode.value,
        fees=[
            ProductFeeOut(
                code=f.code,
                kind="flat" if f.kind == "flat" else "percentage",
                rate=f.rate,
                min=f.minimum,
                max=f.maximum,
                treatment=f.treatment,
                amount=f.flat_amount if f.kind == "flat" else None,
            )
            for f in p.fees
        ],
        min_rate=p.min_rate,
        max_rate=p.max_rate,
        rates=dict(p.rates),
        kind=p.kind,
        description=p.description,
        required_documents=[
            DocumentRequirementOut(type=d.doc_type, above_amount=d.above_amount)
            for d in p.required_documents
        ],
        policy=ProductPolicyOut(
            min_age=p.policy.min_age,
            max_age_at_maturity=p.policy.max_age_at_maturity,
            eligible_employment=sorted(p.policy.eligible_employment),
            max_exposure=p.policy.max_exposure,
            min_residual_income=p.policy.min_residual_income,
            min_bureau_score=p.policy.min_bureau_score,
            max_dti_approve=p.max_dti_approve,
            max_dti_refer=p.max_dti_refer,
        ),
        second_approval_above=p.second_approval_above,
        allocation_order=list(p.allocation_order),
    )


@router.get("", summary="The product catalog")
async def list_products(_: AnyRole, catalog: CatalogDep) -> ProductList:
    """Every product on offer with its limits, method and pricing range."""
    return ProductList(
        catalog_version=catalog.version, items=[product_out(p) for p in catalog.list()]
    )
