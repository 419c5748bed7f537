"""LOS use cases: verb_noun functions over a unit of work; each commits once."""
