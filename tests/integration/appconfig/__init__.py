"""``GET /api/v1/app/config`` on the suite's app (PostgreSQL, Redis, the emulator)."""
