"""Collections rules: dunning tasks due, promises kept or broken, queue priority, config."""

from datetime import date
from decimal import Decimal

import pytest

from lms.domain.collections import (
    DunningRule,
    PromiseStatus,
    QueueFacts,
    TaskKind,
    check_promise,
    due_tasks,
    paid_toward,
    parse_dunning,
    prioritise,
    promise_outcome,
)
from lms.domain.delinquency import DEFAULT_BUCKETS
from lms.domain.errors import (
    CaseClosedError,
    CurrencyMismatchError,
    InvalidAmountError,
    PromiseInPastError,
)
from lms.products import parse_rules, rules_for

D = Decimal
RULES = {
    "1-30": (
        DunningRule("1-30", 0, TaskKind.MESSAGE),
        DunningRule("1-30", 7, TaskKind.CALL),
    ),
    "31-60": (DunningRule("31-60", 3, TaskKind.VISIT),),
}


def test_a_rule_falls_due_after_days_from_the_bucket_entry():
    entered = date(2024, 6, 2)
    assert due_tasks("1-30", entered, date(2024, 6, 1), RULES) == []
    on_entry = due_tasks("1-30", entered, entered, RULES)
    assert [(t.rule_key, t.kind, t.due_on) for t in on_entry] == [
        ("1-30:0:message", TaskKind.MESSAGE, date(2024, 6, 2))
    ]
    assert len(due_tasks("1-30", entered, date(2024, 6, 8), RULES)) == 1
    week = due_tasks("1-30", entered, date(2024, 6, 9), RULES)
    assert [(t.rule_key, t.due_on) for t in week] == [
        ("1-30:0:message", date(2024, 6, 2)),
        ("1-30:7:call", date(2024, 6, 9)),
    ]
    # The same inputs give the same tasks later: the caller stores each key once.
    assert due_tasks("1-30", entered, date(2024, 6, 20), RULES) == week


def test_only_the_current_buckets_rules_apply():
    assert due_tasks("61-90", date(2024, 6, 2), date(2024, 9, 1), RULES) == []
    later = due_tasks("31-60", date(2024, 7, 2), date(2024, 7, 5), RULES)
    assert [(t.rule_key, t.kind, t.due_on) for t in later] == [
        ("31-60:3:visit", TaskKind.VISIT, date(2024, 7, 5))
    ]


def test_promise_open_until_its_date_then_kept_or_broken():
    amount = D("500.00")
    promised = date(2024, 6, 20)
    assert promise_outcome(amount, D("500.00"), promised, date(2024, 6, 19)) == PromiseStatus.OPEN
    assert promise_outcome(amount, D("500.00"), promised, promised) == PromiseStatus.KEPT
    assert promise_outcome(amount, D("600.00"), promised, promised) == PromiseStatus.KEPT
    assert promise_outcome(amount, D("499.99"), promised, promised) == PromiseStatus.BROKEN
    assert promise_outcome(amount, D("0"), promised, date(2024, 6, 25)) == PromiseStatus.BROKEN


def test_paid_toward_counts_payments_from_the_promise_day_to_its_date():
    payments = [
        (date(2024, 6, 11), D("100.00")),  # before the promise was made
        (date(2024, 6, 12), D("0.10")),
        (date(2024, 6, 20), D("200.00")),
        (date(2024, 6, 21), D("999.00")),  # after its date
    ]
    assert paid_toward(payments, date(2024, 6, 12), date(2024, 6, 20)) == D("200.10")


def _promise(**overrides):
    fields = {
        "case_status": "open",
        "amount": D("10.00"),
        "currency": "USD",
        "loan_currency": "USD",
        "promised_on": date(2024, 6, 12),
        "business_date": date(2024, 6, 12),
    }
    fields.update(overrides)
    check_promise(**fields)


def test_check_promise_refuses_bad_input():
    _promise()  # today is fine
    _promise(amount=D("999999999999999.99"))
    with pytest.raises(PromiseInPastError):
        _promise(promised_on=date(2024, 6, 11))
    with pytest.raises(CurrencyMismatchError):
        _promise(currency="EUR")
    for bad in ("0", "-1.00", "1.001", "NaN", "Infinity", "1E+15", "1E+300"):
        with pytest.raises(InvalidAmountError):
            _promise(amount=D(bad))
    with pytest.raises(CaseClosedError):
        _promise(case_status="closed")


def _facts(loan_id, bucket, broken=0, owed="0", dpd=1):
    return QueueFacts(loan_id, bucket, DEFAULT_BUCKETS, broken, D(owed), dpd)


def test_priority_bucket_then_broken_promises_then_amount_overdue():
    cases = [
        _facts("A", "1-30", broken=0, owed="900.00", dpd=20),
        _facts("B", "1-30", broken=1, owed="10.00", dpd=20),
        _facts("C", "31-60", broken=0, owed="5.00", dpd=31),
        _facts("D", "1-30", broken=0, owed="1900.00", dpd=20),
        _facts("E", "90+", broken=0, owed="1.00", dpd=200),
        _facts("F", "1-30", broken=0, owed="900.00", dpd=25),
        _facts("G", "1-30", broken=2, owed="1.00", dpd=2),
    ]
    assert [f.loan_id for f in prioritise(cases)] == ["E", "C", "G", "B", "D", "F", "A"]


def test_severity_compares_products_with_their_own_buckets_by_days():
    weekly = parse_rules(
        {
            "default": {},
            "SHORT": {"buckets": [["current", 0], ["1-7", 7], ["8+"]]},
        }
    )["SHORT"].buckets
    a = QueueFacts("A", "8+", weekly, 0, D("1"), 9)  # from 8 days
    b = QueueFacts("B", "1-30", DEFAULT_BUCKETS, 0, D("100"), 9)  # from 1 day
    c = QueueFacts("C", "31-60", DEFAULT_BUCKETS, 0, D("1"), 31)  # from 31 days
    assert [f.loan_id for f in prioritise([b, a, c])] == ["C", "A", "B"]


def test_shipped_dunning_rules_and_inheritance():
    rules = rules_for("PERSONAL-12M").dunning
    assert [r.key for r in rules["1-30"]] == ["1-30:0:message", "1-30:7:call"]
    assert rules == rules_for("NO-SUCH-PRODUCT").dunning
    own = parse_rules(
        {
            "default": {"dunning": {"1-30": [{"after_days": 1, "action": "call"}]}},
            "X": {"dunning": {"90+": [{"after_days": 0, "action": "visit"}]}},
            "Y": {},
        }
    )
    assert list(own["X"].dunning) == ["90+"]
    assert [r.key for r in own["Y"].dunning["1-30"]] == ["1-30:1:call"]


@pytest.mark.parametrize(
    "dunning",
    [
        {"current": [{"after_days": 0, "action": "call"}]},
        {"1-45": [{"after_days": 0, "action": "call"}]},
        {"1-30": [{"after_days": -1, "action": "call"}]},
        {"1-30": [{"after_days": 1.5, "action": "call"}]},
        {"1-30": [{"after_days": 0, "action": "email"}]},
        {"1-30": [{"after_days": 0}]},
        {"1-30": [{"after_days": 0, "action": "call"}, {"after_days": 0, "action": "call"}]},
        {"1-30": {"after_days": 0, "action": "call"}},
        ["1-30"],
    ],
)
def test_bad_dunning_rules_fail_at_start_up(dunning):
    with pytest.raises(ValueError, match=r"servicing\.toml"):
        parse_rules({"default": {"dunning": dunning}})


def test_parse_dunning_orders_rules_by_days():
    rules = parse_dunning(
        "default",
        {"1-30": [{"after_days": 9, "action": "visit"}, {"after_days": 2, "action": "call"}]},
        DEFAULT_BUCKETS,
    )
    assert [r.after_days for r in rules["1-30"]] == [2, 9]
