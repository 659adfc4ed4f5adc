"""Mapping rules: source field values onto taxonomy concepts."""
