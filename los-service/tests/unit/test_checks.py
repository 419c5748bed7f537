"""Sandbox outcomes, bureau report parsing, and fuzzy sanctions screening."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from los.adapters.providers import load_watchlist, parse_watchlist
from los.domain.applicants import name_similarity, similarity_reaching, tokens_sorted
from los.domain.checks import (
    BureauReport,
    CheckStatus,
    IdentityQuery,
    sandbox_bureau_report,
    sandbox_kyc,
)

QUERY = IdentityQuery("Ada", "Lovelace", date(1985, 6, 15), "123-45-6707", "US")


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("123456700", CheckStatus.FAILED),
        ("123456711", CheckStatus.REVIEW),
        ("123456707", CheckStatus.PASSED),
        ("AB123456C", CheckStatus.PASSED),
    ],
)
def test_sandbox_kyc_follows_the_documented_suffixes(key, status):
    assert sandbox_kyc(QUERY, key).status is status
    assert sandbox_kyc(QUERY, key) == sandbox_kyc(QUERY, key)


def test_sandbox_bureau_reports():
    assert sandbox_bureau_report("123456722").file_found is False
    assert sandbox_bureau_report("123456733").defaults_24m == 1
    assert sandbox_bureau_report("123456744").delinquencies_12m == 2
    assert sandbox_bureau_report("123456755").monthly_debt == Decimal("1500.00")
    assert sandbox_bureau_report("123456766").score == 450
    clean = sandbox_bureau_report("123456707")
    assert clean.file_found
    assert 600 <= (clean.score or 0) < 800
    assert clean == sandbox_bureau_report("123456707")


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {
            "file_found": True,
            "score": "high",
            "monthly_debt": "0",
            "open_accounts": 1,
            "delinquencies_12m": 0,
            "defaults_24m": 0,
        },
        {
            "file_found": True,
            "score": 700,
            "monthly_debt": "-5",
            "open_accounts": 1,
            "delinquencies_12m": 0,
            "defaults_24m": 0,
        },
        {
            "file_found": "yes",
            "score": 700,
            "monthly_debt": "0",
            "open_accounts": 1,
            "delinquencies_12m": 0,
            "defaults_24m": 0,
        },
        {
            "file_found": True,
            "score": 700,
            "monthly_debt": "NaN",
            "open_accounts": 1,
            "delinquencies_12m": 0,
            "defaults_24m": 0,
        },
    ],
)
def test_bureau_report_refuses_garbage(bad):
    with pytest.raises((KeyError, TypeError, ValueError, ArithmeticError)):
        BureauReport.from_dict(bad)


WATCHLIST = load_watchlist()


def _screen(first: str, last: str, dob: date) -> tuple[CheckStatus, tuple[str, ...]]:
    result = WATCHLIST.screen(IdentityQuery(first, last, dob, "x", "US"))
    return result.status, result.reasons


def test_screening_exact_name_and_birth_date_is_a_match():
    assert _screen("Viktor", "Grimwald", date(1961, 4, 2)) == (
        CheckStatus.FAILED,
        ("SANCTIONS_MATCH",),
    )


def test_screening_is_fuzzy_and_ignores_order_case_and_accents():
    assert _screen("viktor", "GRIMWOLD", date(1990, 1, 1))[0] is CheckStatus.REVIEW
    assert _screen("Grimwald", "Viktor", date(1990, 1, 1))[0] is CheckStatus.REVIEW
    assert _screen("Olena", "Drachénko", date(1974, 9, 17))[0] is CheckStatus.FAILED


def test_screening_pep_and_clean_names():
    assert _screen("Portia", "Quillfeather", date(1966, 3, 14)) == (
        CheckStatus.REVIEW,
        ("PEP_MATCH",),
    )
    assert _screen("Ada", "Lovelace", date(1985, 6, 15)) == (CheckStatus.PASSED, ())


def test_watchlist_version_changes_with_content():
    text = "list,name,date_of_birth,country\nSANCTIONS,Some Body,,ZZ\n"
    assert parse_watchlist(text).version != parse_watchlist(text + "PEP,Other One,,ZZ\n").version


_NAME_TOKENS = st.text(alphabet="abcdeilnorstuvw", min_size=1, max_size=9)


@st.composite
def _name_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A name and a variant of it a few edits away, so ratios land on both sides of 0.88."""
    name = " ".join(draw(st.lists(_NAME_TOKENS, min_size=1, max_size=4)))
    variant = list(name)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(variant)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        letter = draw(st.sampled_from("aeiouxyz"))
        if action == "insert":
            variant.insert(at, letter)
        elif at < len(variant):
            variant[at : at + 1] = [] if action == "delete" else [letter]
    other = " ".join("".join(variant).split()) or "x"
    return name, other


@settings(max_examples=600, deadline=None)
@given(pair=_name_pairs(), threshold=st.sampled_from(["0.85", "0.88", "0.9", "0.5"]))
def test_the_screening_shortcut_finds_exactly_the_names_the_full_ratio_finds(
    pair: tuple[str, str], threshold: str
) -> None:
    left, right = pair
    limit = Decimal(threshold)
    full = name_similarity(left, right)
    expected = full if full >= limit else None
    assert similarity_reaching(tokens_sorted(left), tokens_sorted(right), limit) == expected
