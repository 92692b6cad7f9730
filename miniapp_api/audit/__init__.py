"""The audit trail: who read or changed what, in an append-only, hash-chained table."""
