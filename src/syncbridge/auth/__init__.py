"""API keys, roles and the request principal."""
