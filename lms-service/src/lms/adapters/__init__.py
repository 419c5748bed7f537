"""Database and other adapters of the LMS."""
