"""Connections: configured instances of connectors, with encrypted secrets."""
