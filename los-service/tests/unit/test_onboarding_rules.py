"""National id formats per country, identity keys and fuzzy name similarity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from los.domain.applicants import (
    DUPLICATE_NAME_THRESHOLD,
    check_national_id,
    identity_key,
    mask_email,
    name_similarity,
    normalise_name,
)
from los.domain.errors import InvalidNationalIdError


@pytest.mark.parametrize(
    ("country", "value"),
    [
        ("US", "123-45-6789"),
        ("GB", "AB 12 34 56 C"),
        ("IN", "2345 6789 0123"),
        ("DE", "12345678901"),
        ("NG", "12345678901"),
        ("KE", "12345678"),
        ("BR", "529.982.247-25"),
        ("FR", "anything-4-ok"),  # no country rule: the API's generic shape only
    ],
)
def test_valid_national_ids(country, value):
    assert check_national_id(value, country)


@pytest.mark.parametrize(
    ("country", "value"),
    [
        ("US", "000-12-3456"),
        ("US", "666-12-3456"),
        ("US", "923-45-6789"),
        ("US", "12345678"),
        ("GB", "DA123456C"),
        ("GB", "AB123456E"),
        ("IN", "1234 5678 9012"),
        ("DE", "01234567890"),
        ("KE", "123456"),
        ("BR", "529.982.247-26"),
        ("BR", "111.111.111-11"),
    ],
)
def test_invalid_national_ids(country, value):
    with pytest.raises(InvalidNationalIdError):
        check_national_id(value, country)


def test_identity_key_is_per_country():
    assert identity_key("123-45-6789", "US") == "US:123456789"
    assert identity_key("123 45 6789", "US") == identity_key("123456789", "US")
    assert identity_key("123456789", "US") != identity_key("123456789", "NG")


def test_name_similarity():
    ada = normalise_name("Ada", "Lovelace")
    assert name_similarity(ada, normalise_name("ADA", "Lovelace")) == Decimal(1)
    assert name_similarity(ada, normalise_name("Lovelace", "Ada")) == Decimal(1)
    assert name_similarity(ada, normalise_name("Ada", "Lovelance")) >= DUPLICATE_NAME_THRESHOLD
    assert name_similarity(ada, normalise_name("Grace", "Hopper")) < DUPLICATE_NAME_THRESHOLD
    assert normalise_name("Zoë", "Ñúñez") == "zoe nunez"


def test_mask_email():
    assert mask_email("ada@example.com") == "a****@example.com"
