"""Loan management service: books disbursed loans and services them."""

__version__ = "0.1.0"
