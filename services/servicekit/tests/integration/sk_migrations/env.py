"""Migrations for servicekit's own tests: just the infrastructure tables."""

from sqlalchemy import MetaData

from servicekit.migrations import run_env
from servicekit.tables import define_infrastructure_tables

metadata = MetaData()
define_infrastructure_tables(metadata)
run_env(metadata)
