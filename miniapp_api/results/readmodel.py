"""The Redis read model of results: what ``GET /api/v1/results`` reads (never the database).

INTERFACE ONLY (to be implemented): the database is the system of record; this model is kept
current by sampling (a pending entry) and by lab ingest (results), and rebuilt from the database
by ``miniapp readmodel rebuild``. Keys carry a {hash tag} per resident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis


@dataclass(frozen=True)
class ResultEntry:
    """One sampling of one resident and its state (``pending`` until the lab answers)."""

    tube_no: str
    round_name: str
    site_name: str
    sampled_at: datetime
    state: str  # pending | negative | positive | retest_required | invalid
    tested_at: datetime | None = None


class ResultReadModel:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def record(self, entries: Iterable[tuple[str, ResultEntry]]) -> None:
        """Upsert entries keyed by (resident public id, tube_no), in one pipeline."""
        raise NotImplementedError

    def read(self, resident_ids: Sequence[str]) -> dict[str, list[ResultEntry]]:
        """Entries per resident, newest sampling first (one round trip for all residents)."""
        raise NotImplementedError
