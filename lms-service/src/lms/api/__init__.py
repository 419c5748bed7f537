"""REST API of the LMS."""
