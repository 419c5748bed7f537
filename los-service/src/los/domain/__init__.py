"""Pure LOS rules: products, applicants, the application state machine, decisions, offers."""
