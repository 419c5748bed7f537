"""FastAPI dependencies as Annotated aliases: the unit of work, settings, clock, caller."""

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


def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was built with."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    """The app's clock (fixed in tests)."""
    clock: Clock = getattr(request.app.state, "clock", None) or SystemClock()
    return clock


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
