"""`make demo`: walk one application to a booked loan against running services and print it."""

from __future__ import annotations

import argparse
import os
import sys

import httpx

from servicekit.settings import DEVELOPMENT_SECRET
from tests.e2e.journey import Tokens, principal_sum, run_journey


def main() -> int:
    """Run the journey and print the offer and the booked schedule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--los", default="http://127.0.0.1:8001")
    parser.add_argument("--lms", default="http://127.0.0.1:8002")
    parser.add_argument("--amount", default="12000.00")
    parser.add_argument("--term", type=int, default=24)
    args = parser.parse_args()
    secret = os.environ.get("LOS_JWT_SECRET", DEVELOPMENT_SECRET)
    try:
        with (
            httpx.Client(base_url=args.los, timeout=10) as los,
            httpx.Client(base_url=args.lms, timeout=10) as lms,
        ):
            result = run_journey(los, lms, Tokens.issue(secret), amount=args.amount, term=args.term)
    except httpx.ConnectError as exc:
        print(
            f"cannot reach the services ({exc}); start them with `make run` first", file=sys.stderr
        )
        return 1
    offer, loan, schedule = result["offer"], result["loan"], result["schedule"]
    decision = result["decision"] or {}
    print(f"application {result['application']['id']}: {result['application']['status']}")
    print(
        f"  decision  {decision.get('outcome')} score {decision.get('score')} grade {decision.get('grade')}"
    )
    print(
        f"  offer     {offer['principal']} {offer['currency']} at {offer['annual_rate']} over {offer['term']}"
        f" installments of {offer['installment_amount']}; total {offer['total_repayable']}; APR {offer['apr']}"
    )
    print(
        f"  handoff   booked in {result['handoff_seconds'] * 1000:.0f} ms; matches offer: "
        f"{result['application']['handoff']['schedule_matches_offer']}"
    )
    print(
        f"loan {result['loan_id']}: {loan['status']}, outstanding {loan['outstanding']['total']} {loan['currency']}"
    )
    print(f"  {'#':>3} {'due':10} {'principal':>12} {'interest':>10} {'total':>10}")
    for row in schedule["installments"]:
        print(
            f"  {row['number']:>3} {row['due_date']:10} {row['principal']:>12} {row['interest']:>10} {row['total']:>10}"
        )
    print(f"  principal parts sum to {principal_sum(schedule)} (principal {loan['principal']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
