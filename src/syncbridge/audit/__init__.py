"""The audit log: every admin write, with who, when, before and after."""
