"""Alembic history of the LOS database."""
