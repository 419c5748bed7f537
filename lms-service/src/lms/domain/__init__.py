"""Pure servicing rules: no clock, settings, database or web framework in here."""
