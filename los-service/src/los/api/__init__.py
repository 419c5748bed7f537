"""The LOS REST API: thin routers that parse, call one use case and map the result."""
