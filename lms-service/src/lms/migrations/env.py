"""Alembic environment of the LMS database."""

from lms.adapters.orm import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
