"""Consumers of the LMS."""
