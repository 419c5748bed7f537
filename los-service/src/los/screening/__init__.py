"""The sanctions and PEP watchlist shipped with the package (made-up names only)."""
