"""Write-back: owned performance tags delivered to each DAM through an outbox, with a
ledger of every attempt (``/v1/writebacks``)."""
