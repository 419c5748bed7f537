"""FastAPI dependencies as Annotated aliases: the unit of work, settings, clock, caller.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in its thread pool,
a thread hand-off per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from servicekit.clock import Clock, SystemClock
from servicekit.db import UnitOfWork
from servicekit.settings import ServiceSettings


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request; the use case commits it."""
    async with request.app.state.uow_factory() as uow:
        yield uow


async def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was built with."""
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_clock(request: Request) -> Clock:
    """The app's clock (fixed in tests)."""
    clock: Clock = getattr(request.app.state, "clock", None) or SystemClock()
    return clock


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
