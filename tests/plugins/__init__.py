"""Real connector plugins for the tests: a working one (``sample``) and broken ones."""
