"""The push path on real PostgreSQL, Redis and the emulated platforms."""
