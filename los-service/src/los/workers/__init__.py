"""LOS background work: event consumers (the outbox relay comes from servicekit)."""
