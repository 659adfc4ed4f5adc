"""Taxonomy files: the YAML format and SKOS Turtle, read into and written from plain values."""
