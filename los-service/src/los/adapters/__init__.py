"""Persistence and other outside-world adapters of the LOS."""
