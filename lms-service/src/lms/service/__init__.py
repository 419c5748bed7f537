"""Use cases of the LMS."""
