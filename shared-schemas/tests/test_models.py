"""Event payload models: money as strings, strict scalars, business validators, no PII."""

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from lending_schemas.examples import example_loan_booked_v1, example_loan_disbursed_v1
from lending_schemas.primitives import DECIMAL_PATTERN, DecimalString, format_rfc3339, parse_rfc3339
from lending_schemas.v1 import FeeV1, LoanBookedV1, LoanDisbursedV1, ScheduleSummaryV1


class Amount(BaseModel):
    value: DecimalString


def _data(**changes):
    data = example_loan_disbursed_v1().model_dump(mode="json")
    data.update(changes)
    return data


def test_metadata():
    assert LoanDisbursedV1.event_type == "LoanDisbursed"
    assert LoanDisbursedV1.version == "1.2"
    assert LoanDisbursedV1.dataschema() == "urn:lending:schema:LoanDisbursed:1.2"
    assert LoanDisbursedV1.ce_type() == "lending.LoanDisbursed.v1"
    assert LoanDisbursedV1.major() == 1
    assert LoanDisbursedV1.minor() == 2
    assert LoanBookedV1.dataschema() == "urn:lending:schema:LoanBooked:1.0"


def test_money_serialises_as_strings():
    data = example_loan_disbursed_v1().model_dump(mode="json")
    assert data["principal"] == "10000.00"
    assert data["annual_rate"] == "0.1200"
    assert data["fees"][0]["amount"] == "200.00"
    assert data["promised"]["apr"] == "0.1652"
    assert data["disbursement_date"] == "2024-05-01"
    assert data["disbursed_at"] == "2024-05-01T09:30:00Z"
    assert LoanDisbursedV1.model_validate(data) == example_loan_disbursed_v1()


@pytest.mark.parametrize(
    "bad", [100.5, 100, True, None, "1e3", "1,000.00", " 1.0", "1.", ".5", "+1"]
)
def test_decimal_string_refuses_non_strings_and_odd_text(bad):
    with pytest.raises(ValidationError):
        Amount.model_validate({"value": bad})
    with pytest.raises(ValidationError):
        Amount.model_validate_json(json.dumps({"value": bad}))


@pytest.mark.parametrize("bad", ["1.0\n", "١٢", "NaN", "Infinity"])
def test_decimal_string_refuses_unicode_digits_and_trailing_newline(bad):
    with pytest.raises(ValidationError):
        Amount(value=bad)


def test_float_money_refused_in_event():
    with pytest.raises(ValidationError) as info:
        LoanDisbursedV1.model_validate(_data(principal=10000.0))
    assert info.value.errors()[0]["loc"] == ("principal",)
    with pytest.raises(ValidationError):
        LoanDisbursedV1.model_validate_json(json.dumps(_data(principal=10000)))


def test_twenty_digit_decimals_kept_exactly():
    text = "12345678901234567890.12345678901234567890"
    model = Amount.model_validate_json(json.dumps({"value": text}))
    assert model.value == Decimal(text)
    assert model.model_dump(mode="json") == {"value": text}
    assert json.loads(model.model_dump_json()) == {"value": text}
    event = LoanDisbursedV1.model_validate(
        _data(principal="98765432109876543210.00", net_disbursed="98765432109876543009.99")
    )
    assert event.model_dump(mode="json")["principal"] == "98765432109876543210.00"
    assert event.principal - event.net_disbursed == Decimal("200.01")


def test_no_exponent_on_the_wire():
    assert Amount(value="0.0000001").model_dump(mode="json") == {"value": "0.0000001"}
    assert Amount(value=Decimal("1E+3")).model_dump(mode="json") == {"value": "1000"}
    assert Amount(value="-0.50").model_dump(mode="json") == {"value": "-0.50"}


def test_decimal_string_json_schema():
    schema = Amount.model_json_schema()["properties"]["value"]
    assert schema == {"type": "string", "pattern": DECIMAL_PATTERN, "title": "Value"}
    assert DECIMAL_PATTERN == r"^-?\d+(\.\d+)?$"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_decimal_round_trip_property(value):
    text = format(value, "f")
    assert re.fullmatch(DECIMAL_PATTERN, text)
    dumped = Amount(value=text).model_dump(mode="json")["value"]
    assert Decimal(dumped) == value
    assert dumped == text


@pytest.mark.parametrize("bad", ["eur", "EU", "EURO", "E1R", 978])
def test_currency_code(bad):
    with pytest.raises(ValidationError):
        LoanDisbursedV1.model_validate(_data(currency=bad))


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("disbursement_date", "2024-05-01T00:00:00"),
        ("disbursement_date", "01/05/2024"),
        ("disbursement_date", 1714521600),
        ("disbursed_at", "2024-05-01T09:30:00"),
        ("disbursed_at", 1714555800),
        ("disbursed_at", "2024-05-01"),
        ("term", "12"),
        ("term", 12.0),
        ("term", True),
        ("term", 0),
        ("grace_interest_periods", -1),
    ],
)
def test_strict_scalars(field, bad):
    with pytest.raises(ValidationError):
        LoanDisbursedV1.model_validate(_data(**{field: bad}))


def test_datetime_instances_must_be_aware_and_are_normalised():
    with pytest.raises(ValidationError):
        example_loan_disbursed_v1(disbursed_at=datetime(2024, 5, 1, 9, 30))
    with pytest.raises(ValidationError):
        example_loan_disbursed_v1(disbursement_date=datetime(2024, 5, 1, tzinfo=UTC))
    cet = timezone(timedelta(hours=2))
    event = example_loan_disbursed_v1(disbursed_at=datetime(2024, 5, 1, 11, 30, tzinfo=cet))
    assert event.model_dump(mode="json")["disbursed_at"] == "2024-05-01T09:30:00Z"


def test_rfc3339_helpers():
    assert parse_rfc3339("2024-05-01T10:00:00+02:00") == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert format_rfc3339(datetime(2024, 5, 1, 8, tzinfo=UTC)) == "2024-05-01T08:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_rfc3339(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"principal": "0"}, "greater than 0"),
        ({"principal": "-1.00"}, "greater than 0"),
        ({"net_disbursed": "10000.01"}, "net_disbursed must not exceed principal"),
        ({"first_due_date": "2024-05-01"}, "first_due_date must be after"),
        ({"first_due_date": "2024-04-30"}, "first_due_date must be after"),
        ({"annual_rate": "-0.01"}, "greater than or equal to 0"),
        ({"grace_principal_periods": 12}, "grace_principal_periods"),
        ({"grace_interest_periods": 12}, "grace_interest_periods"),
        ({"allocation_order": ["fees", "interest", "principal"]}, "allocation_order"),
        ({"allocation_order": ["fees", "fees", "interest", "principal"]}, "allocation_order"),
        ({"allocation_order": ["penalties", "fees", "interest", "capital"]}, "allocation_order"),
        ({"day_count": "30/365"}, "day_count"),
        ({"interest_basis": "simple"}, "interest_basis"),
        ({"amortization": "balloon"}, "amortization"),
        ({"frequency": "fortnightly"}, "frequency"),
        ({"rounding_mode": "bankers"}, "rounding_mode"),
        ({"loan_id": ""}, "loan_id"),
    ],
)
def test_business_validators(changes, message):
    with pytest.raises(ValidationError, match=message):
        LoanDisbursedV1.model_validate(_data(**changes))


def test_zero_rate_and_no_fees_allowed():
    event = LoanDisbursedV1.model_validate(
        _data(annual_rate="0", fees=[], net_disbursed="10000.00")
    )
    assert event.annual_rate == 0
    assert event.fees == []


def test_defaults():
    data = _data()
    for name in ("grace_principal_periods", "grace_interest_periods", "allocation_order"):
        del data[name]
    del data["promised"]["apr"]
    event = LoanDisbursedV1.model_validate(data)
    assert event.grace_principal_periods == 0
    assert event.allocation_order == ["penalties", "fees", "interest", "principal"]
    assert event.promised.apr is None
    other = LoanDisbursedV1.model_validate(data)
    assert other.allocation_order is not event.allocation_order


@pytest.mark.parametrize("treatment", ["deducted", "financed", "upfront"])
def test_fee_treatments(treatment):
    assert FeeV1(code="X", amount="1.00", treatment=treatment).treatment == treatment


def test_fee_rejects_unknown_treatment_and_zero_amount():
    with pytest.raises(ValidationError):
        FeeV1(code="X", amount="1.00", treatment="waived")
    with pytest.raises(ValidationError):
        FeeV1(code="X", amount="0", treatment="deducted")


def test_models_are_frozen():
    event = example_loan_disbursed_v1()
    with pytest.raises(ValidationError):
        event.principal = Decimal("1")


def test_extra_fields_ignored():
    event = LoanDisbursedV1.model_validate(
        _data(
            new_field="x",
            penalty={
                "late_fee_flat": "15.00",
                "penalty_rate_annual": "0.05",
                "grace_days": 5,
                "cap": "1",
            },
        )
    )
    assert not hasattr(event, "new_field")
    assert event.penalty.grace_days == 5


PII_NAME = re.compile(
    r"national|nid|ssn|tax_?id|passport|name|dob|birth|phone|mobile|msisdn|e_?mail|address",
    re.IGNORECASE,
)


def _property_names(schema):
    names = []
    for definition in [schema, *schema.get("$defs", {}).values()]:
        names.extend(definition.get("properties", {}))
    return names


@pytest.mark.parametrize("model", [LoanDisbursedV1, LoanBookedV1])
def test_no_pii_fields(model):
    names = _property_names(model.model_json_schema())
    assert names
    assert [n for n in names if PII_NAME.search(n)] == []
    assert "party_ref" in names or model is LoanBookedV1


def test_loan_booked_consistency():
    assert example_loan_booked_v1().matches_offer
    mismatch = example_loan_booked_v1(matches_offer=False, mismatches=["installment_amount"])
    assert mismatch.mismatches == ["installment_amount"]
    with pytest.raises(ValidationError, match="mismatches must be empty"):
        example_loan_booked_v1(mismatches=["total_interest"])
    with pytest.raises(ValidationError, match="mismatches must name"):
        example_loan_booked_v1(matches_offer=False)
    with pytest.raises(ValidationError):
        LoanBookedV1.model_validate(
            example_loan_booked_v1().model_dump(mode="json") | {"matches_offer": "true"}
        )


def test_schedule_summary_dates():
    with pytest.raises(ValidationError, match="last_due_date"):
        ScheduleSummaryV1(
            installment_amount="1.00",
            total_repayable="12.00",
            total_interest="0",
            installments=12,
            first_due_date=date(2024, 6, 1),
            last_due_date=date(2024, 5, 1),
        )
