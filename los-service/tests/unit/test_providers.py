"""HTTP KYC and bureau adapters against httpx.MockTransport: retries, timeouts, garbage
and the circuit breaker; every failure is a result, never an exception."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from los.adapters.providers import CircuitBreaker, HttpBureau, HttpCaller, HttpKyc, HttpPolicy
from los.domain.checks import CheckStatus, IdentityQuery

QUERY = IdentityQuery("Ada", "Lovelace", date(1985, 6, 15), "123-45-6707", "US")
REPORT = {
    "file_found": True,
    "score": 701,
    "monthly_debt": "250.00",
    "open_accounts": 3,
    "delinquencies_12m": 0,
    "defaults_24m": 0,
}


class Script:
    """A MockTransport handler answering from a list, counting calls."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.bodies: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.bodies.append(json.loads(request.content))
        answer = self.answers[min(self.calls - 1, len(self.answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer


async def _no_sleep(_: float) -> None:
    return None


def _caller(script: Script, retries: int = 2, breaker: CircuitBreaker | None = None) -> HttpCaller:
    policy = HttpPolicy(timeout_s=0.5, retries=retries, backoff_s=0.01, sleep=_no_sleep)
    return HttpCaller(
        "http://provider.test", policy, transport=httpx.MockTransport(script), breaker=breaker
    )


async def test_kyc_success_sends_the_identity():
    script = Script(
        httpx.Response(
            200, json={"status": "review", "reference": "K-1", "reasons": ["DOC_BLURRY"]}
        )
    )
    result = await HttpKyc(_caller(script)).verify(QUERY, "123456707")
    assert (result.status, result.reference, result.reasons) == (
        CheckStatus.REVIEW,
        "K-1",
        ("DOC_BLURRY",),
    )
    assert script.bodies[0]["national_id"] == "123-45-6707"
    assert result.attempts == 1


async def test_transient_failures_are_retried_with_backoff():
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    script = Script(
        httpx.ReadTimeout("slow"),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json={"status": "passed", "reference": "K-2", "reasons": []}),
    )
    policy = HttpPolicy(timeout_s=0.5, retries=2, backoff_s=0.1, sleep=record)
    caller = HttpCaller("http://p.test", policy, transport=httpx.MockTransport(script))
    result = await HttpKyc(caller).verify(QUERY, "k")
    assert result.status is CheckStatus.PASSED
    assert result.attempts == 3
    assert sleeps == [0.1, 0.2]


async def test_timeouts_exhaust_retries_and_become_an_error_result():
    script = Script(httpx.ConnectTimeout("down"))
    result = await HttpKyc(_caller(script, retries=2)).verify(QUERY, "k")
    assert result.status is CheckStatus.ERROR
    assert (result.error, result.attempts, script.calls) == ("timeout", 3, 3)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "invalid_json"),
        (httpx.Response(200, json=["a"]), "not_an_object"),
        (httpx.Response(200, json={"status": "maybe"}), "invalid_response"),
        (httpx.Response(400, json={"error": "bad"}), "http_400"),
    ],
)
async def test_garbage_is_not_retried_and_is_kept_raw(response, error):
    script = Script(response)
    result = await HttpKyc(_caller(script)).verify(QUERY, "k")
    assert (result.status, result.error, script.calls) == (CheckStatus.ERROR, error, 1)
    assert result.raw == response.text


async def test_bureau_success_and_garbage():
    ok = await HttpBureau(
        _caller(Script(httpx.Response(200, json={"reference": "B-9", "report": REPORT})))
    ).pull(QUERY, "k")
    assert ok[0].status is CheckStatus.PASSED
    assert ok[1] is not None
    assert ok[1].score == 701
    bad = await HttpBureau(
        _caller(Script(httpx.Response(200, json={"report": {**REPORT, "score": "seven hundred"}})))
    ).pull(QUERY, "k")
    assert bad[0].status is CheckStatus.ERROR
    assert bad[1] is None
    assert bad[0].error == "invalid_response"


async def test_circuit_breaker_opens_then_half_opens():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_after_s=30, monotonic=lambda: now[0])
    script = Script(httpx.Response(500, text="down"))
    kyc = HttpKyc(_caller(script, retries=0, breaker=breaker))
    for _ in range(2):
        assert (await kyc.verify(QUERY, "k")).error == "http_500"
    assert breaker.state == "open"
    calls = script.calls
    result = await kyc.verify(QUERY, "k")
    assert (result.status, result.error, result.attempts) == (CheckStatus.ERROR, "circuit_open", 0)
    assert script.calls == calls  # no request went out
    now[0] = 31
    assert breaker.state == "half_open"
    script.answers = [httpx.Response(200, json={"status": "passed", "reasons": []})]
    script.calls = 0
    assert (await kyc.verify(QUERY, "k")).status is CheckStatus.PASSED
    assert breaker.state == "closed"
