"""The Redis read model of results: what ``GET /api/v1/results`` reads (never the database).

The database is the system of record; this model is kept current by sampling (a pending
entry) and by lab ingest (results), and rebuilt from the database by
``miniapp readmodel rebuild``. One hash per resident, ``results:{<resident id>}``, one field per
tube, so the read for a family is one pipelined round trip and each key lives in one slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

# Compact field values (memory: ~1M residents must fit in well under 200 bytes each):
# "<state>|<round>|<site>|<sampled unix>|<tested unix or empty>".
_SEP = "|"


@dataclass(frozen=True)
class ResultEntry:
    """One sampling of one resident and its state (``pending`` until the lab answers)."""

    tube_no: str
    round_name: str
    site_name: str
    sampled_at: datetime
    state: str  # pending | negative | positive | retest_required | invalid
    tested_at: datetime | None = None

    def encode(self) -> str:
        tested = str(int(self.tested_at.timestamp())) if self.tested_at else ""
        parts = (self.state, self.round_name, self.site_name, str(int(self.sampled_at.timestamp())))
        return _SEP.join((*parts, tested))

    @classmethod
    def decode(cls, tube_no: str, value: str) -> ResultEntry:
        state, round_name, site_name, sampled, tested = value.split(_SEP)
        return cls(
            tube_no=tube_no,
            round_name=round_name,
            site_name=site_name,
            sampled_at=datetime.fromtimestamp(int(sampled), UTC),
            state=state,
            tested_at=datetime.fromtimestamp(int(tested), UTC) if tested else None,
        )


def _key(resident_id: str) -> str:
    return f"results:{{{resident_id}}}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ResultReadModel:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def record(self, entries: Iterable[tuple[str, ResultEntry]]) -> None:
        """Upsert entries keyed by (resident public id, tube_no), in one pipeline."""
        pipe = self._redis.pipeline(transaction=False)
        for resident_id, entry in entries:
            if _SEP in entry.round_name + entry.site_name:
                raise ValueError("round and site names must not contain '|'")
            pipe.hset(_key(resident_id), entry.tube_no, entry.encode())
        pipe.execute()

    def read(self, resident_ids: Sequence[str]) -> dict[str, list[ResultEntry]]:
        """Entries per resident, newest sampling first (one round trip for all residents)."""
        pipe = self._redis.pipeline(transaction=False)
        for resident_id in resident_ids:
            pipe.hgetall(_key(resident_id))
        found: dict[str, list[ResultEntry]] = {}
        for resident_id, fields in zip(resident_ids, pipe.execute(), strict=True):
            entries = [ResultEntry.decode(_text(k), _text(v)) for k, v in fields.items()]
            found[resident_id] = sorted(entries, key=lambda e: e.sampled_at, reverse=True)
        return found

    def clear(self, resident_ids: Sequence[str]) -> None:
        if resident_ids:
            self._redis.delete(*(_key(r) for r in resident_ids))
