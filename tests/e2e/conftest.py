"""End-to-end fixtures: the whole platform in real processes, once per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import backends
from tests.e2e.journey import Tokens
from tests.e2e.stack import Stack


@pytest.fixture(scope="module", params=backends())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = Stack(request.param, Path(tmp_path_factory.mktemp(f"e2e-{request.param}"))).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def tokens() -> Tokens:
    return Tokens.issue(DEVELOPMENT_SECRET)


@pytest.fixture
def los(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.los.url, timeout=10) as client:
        yield client


@pytest.fixture
def lms(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.lms.url, timeout=10) as client:
        yield client
