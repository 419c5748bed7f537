"""Schemathesis over both services' OpenAPI documents, in process, on a real database.

Every operation gets generated requests (valid and invalid) with an admin token; each
response must be no server error, have a documented status code and content type, and
match the documented body schema (problem+json for errors). `LENDING_FUZZ_EXAMPLES` sets
the examples per operation.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from lending_schemas import from_kafka, parse_event
from lms.service.booking import book_loan
from los.products import load_catalog
from los.service.applications import disburse_application
from servicekit.auth import issue_token
from servicekit.clock import FixedClock
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.testing import DatabaseFactory, backends
from tests.sim.handoff import accepted_applications

EXAMPLES = int(os.environ.get("LENDING_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
START = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
REPORT = Path("var/fuzz-report.json")
CASES: Counter[str] = Counter()
STATUSES: defaultdict[str, Counter[str]] = defaultdict(Counter)


def _build(service: str, url: str, workdir: Path) -> Any:
    if service == "los":
        from los.bootstrap import build_app as build_los
        from los.settings import LosSettings

        return build_los(
            LosSettings(
                database_url=url,
                run_workers=False,
                environment="test",
                document_dir=workdir / "documents",
                log_level="WARNING",
            ),
            clock=FixedClock(START),
        )
    from lms.bootstrap import build_app as build_lms
    from lms.settings import LmsSettings

    return build_lms(
        LmsSettings(database_url=url, run_workers=False, environment="test", log_level="WARNING"),
        clock=FixedClock(START),
    )


async def _seed(service: str, url: str, los_url: str, workdir: Path) -> dict[str, str]:
    """Real resources for the fuzzer to meet: path parameters are pinned to their ids.

    The LOS gets two accepted applications (one of them disbursed); the LMS books the
    loan the LOS disbursed, from the LoanDisbursed the LOS staged.
    """
    ids = await accepted_applications(los_url, workdir, 2)
    catalog = load_catalog()
    los_engine = create_engine(los_url)
    try:
        async with UnitOfWorkFactory(los_engine)() as uow:
            view = await disburse_application(
                uow, catalog, ids[0], actor="fuzz", clock=FixedClock(START), loan_id="LN-FUZZ"
            )
            applicant_id = view.application.applicant_id
        async with los_engine.connect() as conn:
            headers, payload = (
                await conn.execute(
                    text("SELECT headers, payload FROM outbox WHERE event_type LIKE '%Disbursed%'")
                )
            ).one()
    finally:
        await los_engine.dispose()
    if service == "los":
        return {"application_id": ids[1], "applicant_id": applicant_id}
    headers = json.loads(headers) if isinstance(headers, str) else headers
    envelope = from_kafka(payload.encode(), [(k, v.encode()) for k, v in headers])
    event = parse_event(envelope)
    lms_engine = create_engine(url)
    try:
        async with UnitOfWorkFactory(lms_engine)() as uow:
            await book_loan(uow.session, event, now=START, event_id=envelope.id)  # type: ignore[arg-type]
            await uow.commit()
    finally:
        await lms_engine.dispose()
    return {"loan_id": "LN-FUZZ"}


@pytest.fixture(
    scope="module",
    params=[(s, b) for s in ("los", "lms") for b in backends()],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def service_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any, dict[str, str]]]:
    service, backend = request.param
    workdir = tmp_path_factory.mktemp(f"fuzz-{service}-{backend}")
    factory = DatabaseFactory(backend, f"{service}:migrations", workdir)
    url = factory.new_database()
    # The LMS's loan comes from a throw-away LOS database (SQLite) that disbursed it.
    los_url = (
        url
        if service == "los"
        else DatabaseFactory("sqlite", "los:migrations", workdir).new_database()
    )
    pinned = asyncio.run(_seed(service, url, los_url, workdir))
    app = _build(service, url, workdir)
    try:
        yield f"{service}-{backend}", app, pinned
    finally:
        factory.drop(url)
        factory.close()


@pytest.fixture(scope="module")
def admin(service_app: tuple[str, Any, dict[str, str]]) -> dict[str, str]:
    secret = service_app[1].state.settings.jwt_secret.get_secret_value()
    return {"Authorization": f"Bearer {issue_token(secret, 'fuzz-admin', ['admin'])}"}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if CASES:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        report = {
            name: {"cases": CASES[name], "statuses": dict(sorted(STATUSES[name].items()))}
            for name in sorted(CASES)
        }
        REPORT.write_text(json.dumps(report, indent=1) + "\n")


def _fuzz(operation: Any, mode: GenerationMode, name: str, admin: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        CASES[name] += 1
        # Readiness answers 503 by design when a dependency (here: the broker) is away;
        # that answer must still be documented and well-formed.
        checks = CHECKS[1:] if operation.path == "/health/ready" else CHECKS
        response = case.call_and_validate(headers=dict(admin), checks=checks)
        STATUSES[name][str(response.status_code)] += 1

    run()


def test_every_operation_answers_as_documented(
    service_app: tuple[str, Any, dict[str, str]], admin: dict[str, str]
) -> None:
    name, app, pinned = service_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Path ids point at real resources, so requests reach the handlers, not only 404.
    schema.config.update(parameters=pinned)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, name, admin)
            except Unsatisfiable:
                # Nothing about this operation can be made invalid (no parameters, no body).
                continue
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    print(
        f"{name}: {operations} operations, {CASES[name]} cases, {len(failures)} failing, "
        f"statuses {dict(sorted(STATUSES[name].items()))}"
    )
    assert operations > 5
    assert not failures, "\n\n".join(failures)
