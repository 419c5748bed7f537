"""KYC and credit bureau providers (sandbox and HTTP) and the sanctions watchlist.

Every provider answers with a `CheckResult`, never an exception: a timeout, a refused
connection, a 5xx or a body that is not what the contract says becomes a result with
status `error`, the attempts made and the raw body, which the decision turns into a
referral. The HTTP adapters retry transient failures with exponential backoff and share a
circuit breaker per provider, so a provider that is down costs one fast failure per call.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any, Protocol

import httpx

from los.domain.applicants import normalise_name
from los.domain.checks import (
    BureauReport,
    CheckKind,
    CheckResult,
    CheckStatus,
    IdentityQuery,
    WatchlistEntry,
    sandbox_bureau_report,
    sandbox_kyc,
    screen,
)

RAW_LIMIT = 4000


class KycProvider(Protocol):
    """Verifies an identity."""

    name: str

    async def verify(self, query: IdentityQuery, national_id_key: str) -> CheckResult:
        """The identity check's result; never raises for provider trouble."""
        ...


class BureauProvider(Protocol):
    """Pulls a credit report."""

    name: str

    async def pull(
        self, query: IdentityQuery, national_id_key: str
    ) -> tuple[CheckResult, BureauReport | None]:
        """The pull's result and the parsed report (None when the pull failed)."""
        ...


class SandboxKyc:
    """Deterministic identity outcomes (see los.domain.checks)."""

    name = "sandbox"

    async def verify(self, query: IdentityQuery, national_id_key: str) -> CheckResult:
        """Outcome from the national id's suffix."""
        return sandbox_kyc(query, national_id_key)


class SandboxBureau:
    """Deterministic bureau reports (see los.domain.checks)."""

    name = "sandbox"

    async def pull(
        self, query: IdentityQuery, national_id_key: str
    ) -> tuple[CheckResult, BureauReport]:
        """Report from the national id."""
        report = sandbox_bureau_report(national_id_key)
        body = report.as_dict()
        return (
            CheckResult(
                CheckKind.BUREAU,
                self.name,
                CheckStatus.PASSED,
                reference=f"SBX-BUR-{national_id_key[-6:]}",
                details=body,
                raw=json.dumps(body, sort_keys=True),
            ),
            report,
        )


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial call through after
    `reset_after_s` (half-open); a success closes it."""

    def __init__(
        self,
        threshold: int = 5,
        reset_after_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.reset_after_s = reset_after_s
        self._monotonic = monotonic
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        """closed, open or half_open."""
        if self.opened_at is None:
            return "closed"
        if self._monotonic() - self.opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now."""
        return self.state != "open"

    def success(self) -> None:
        """A call worked: close."""
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        """A call failed: count it; open (again) at the threshold or after a failed trial."""
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self._monotonic()


@dataclass
class HttpPolicy:
    """Timeouts, retries and breaker settings of one HTTP provider."""

    timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.2
    breaker_threshold: int = 5
    breaker_reset_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class _Transient(Exception):
    """A failure worth retrying (timeout, connection, 5xx, 429)."""


class _Garbage(Exception):
    """An answer that does not follow the provider's contract."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    body: Mapping[str, Any] | None
    raw: str | None
    attempts: int
    error: str | None


class HttpCaller:
    """POSTs JSON with timeouts, retries with backoff and a circuit breaker."""

    def __init__(
        self,
        base_url: str,
        policy: HttpPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url
        self.policy = policy
        self.transport = transport
        self.headers = dict(headers or {})
        self.breaker = breaker or CircuitBreaker(policy.breaker_threshold, policy.breaker_reset_s)

    async def post(self, path: str, payload: Mapping[str, Any]) -> _Outcome:
        """The parsed JSON object, or the reason there is none."""
        if not self.breaker.allow():
            return _Outcome(None, None, 0, "circuit_open")
        raw: str | None = None
        error = "unknown"
        attempts = 0
        async with httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.policy.timeout_s),
            transport=self.transport,
            headers=self.headers,
        ) as client:
            for attempt in range(self.policy.retries + 1):
                attempts = attempt + 1
                try:
                    response = await client.post(path, json=dict(payload))
                    raw = response.text[:RAW_LIMIT]
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _Transient(f"http_{response.status_code}")
                    if response.status_code >= 400:
                        raise _Garbage(f"http_{response.status_code}")
                    try:
                        body = response.json()
                    except ValueError:
                        raise _Garbage("invalid_json") from None
                    if not isinstance(body, dict):
                        raise _Garbage("not_an_object")
                    self.breaker.success()
                    return _Outcome(body, raw, attempts, None)
                except httpx.TimeoutException:
                    error = "timeout"
                except httpx.TransportError as exc:
                    error = f"transport_error:{type(exc).__name__}"
                except _Transient as exc:
                    error = str(exc)
                except _Garbage as exc:
                    self.breaker.failure()
                    return _Outcome(None, raw, attempts, str(exc))
                if attempt < self.policy.retries:
                    await self.policy.sleep(self.policy.backoff_s * 2**attempt)
        self.breaker.failure()
        return _Outcome(None, raw, attempts, error)


def _query_payload(query: IdentityQuery) -> dict[str, str]:
    return {
        "first_name": query.first_name,
        "last_name": query.last_name,
        "date_of_birth": query.date_of_birth.isoformat(),
        "national_id": query.national_id,
        "country": query.country,
    }


def _failed(kind: CheckKind, provider: str, outcome: _Outcome, error: str) -> CheckResult:
    return CheckResult(
        kind,
        provider,
        CheckStatus.ERROR,
        raw=outcome.raw,
        error=error,
        attempts=outcome.attempts,
    )


class HttpKyc:
    """Identity provider over HTTP: POST /v1/identity/verifications.

    Answer: {"status": "passed"|"failed"|"review", "reference": str, "reasons": [str]}.
    """

    def __init__(self, caller: HttpCaller, name: str = "http-kyc") -> None:
        self.caller = caller
        self.name = name

    async def verify(self, query: IdentityQuery, national_id_key: str) -> CheckResult:
        """One verification; provider trouble becomes an `error` result."""
        outcome = await self.caller.post("/v1/identity/verifications", _query_payload(query))
        if outcome.body is None:
            return _failed(CheckKind.KYC, self.name, outcome, outcome.error or "no_body")
        body = outcome.body
        status = body.get("status")
        reasons = body.get("reasons", [])
        reference = body.get("reference")
        if (
            status not in ("passed", "failed", "review")
            or not isinstance(reasons, list)
            or not all(isinstance(r, str) for r in reasons)
            or not (reference is None or isinstance(reference, str))
        ):
            return _failed(CheckKind.KYC, self.name, outcome, "invalid_response")
        return CheckResult(
            CheckKind.KYC,
            self.name,
            CheckStatus(status),
            reference=reference,
            reasons=tuple(reasons),
            raw=outcome.raw,
            attempts=outcome.attempts,
        )


class HttpBureau:
    """Credit bureau over HTTP: POST /v1/reports.

    Answer: {"reference": str, "report": {"file_found", "score", "monthly_debt",
    "open_accounts", "delinquencies_12m", "defaults_24m"}}.
    """

    def __init__(self, caller: HttpCaller, name: str = "http-bureau") -> None:
        self.caller = caller
        self.name = name

    async def pull(
        self, query: IdentityQuery, national_id_key: str
    ) -> tuple[CheckResult, BureauReport | None]:
        """One pull; provider trouble becomes an `error` result and no report."""
        outcome = await self.caller.post("/v1/reports", _query_payload(query))
        if outcome.body is None:
            return _failed(CheckKind.BUREAU, self.name, outcome, outcome.error or "no_body"), None
        try:
            report = BureauReport.from_dict(outcome.body["report"])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return _failed(CheckKind.BUREAU, self.name, outcome, "invalid_response"), None
        reference = outcome.body.get("reference")
        return (
            CheckResult(
                CheckKind.BUREAU,
                self.name,
                CheckStatus.PASSED,
                reference=reference if isinstance(reference, str) else None,
                details=report.as_dict(),
                raw=outcome.raw,
                attempts=outcome.attempts,
            ),
            report,
        )


@dataclass(frozen=True, slots=True)
class Watchlist:
    """The sanctions and PEP list and its version (the file's SHA-256 prefix)."""

    version: str
    entries: tuple[WatchlistEntry, ...]

    def screen(self, query: IdentityQuery) -> CheckResult:
        """Fuzzy-screen the applicant's name (and date of birth) against the list."""
        return screen(
            normalise_name(query.first_name, query.last_name),
            query.date_of_birth,
            self.entries,
            self.version,
        )


def parse_watchlist(text: str) -> Watchlist:
    """Parse the CSV (list,name,date_of_birth,country)."""
    import hashlib

    entries = []
    for row in csv.DictReader(io.StringIO(text)):
        dob = row.get("date_of_birth") or ""
        entries.append(
            WatchlistEntry(
                list_name=row["list"].strip().upper(),
                name=row["name"].strip(),
                date_of_birth=date.fromisoformat(dob) if dob else None,
                country=(row.get("country") or None),
            )
        )
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Watchlist(version, tuple(entries))


def load_watchlist() -> Watchlist:
    """The list shipped in `los.screening`."""
    text = resources.files("los.screening").joinpath("watchlist.csv").read_text("utf-8")
    return parse_watchlist(text)


@dataclass
class Providers:
    """The outside-world checks the submit use case calls."""

    kyc: KycProvider
    bureau: BureauProvider
    watchlist: Watchlist
