"""Person results fanned out from tube results, the Redis read model, and lookups."""
