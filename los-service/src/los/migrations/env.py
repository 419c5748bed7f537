"""Alembic environment of the LOS database."""

from los.adapters.orm import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
