"""Metrics: daily facts per asset (views, sessions, key events, events, revenue; deals and
revenue influenced through campaigns), computed from linked analytics rows and CRM records,
with the records and source connection behind each."""
