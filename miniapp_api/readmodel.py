"""The Redis read model of results: what ``GET /api/v1/results`` reads (never the database).

The database is the system of record; this model is kept current by sampling (a pending
entry) and by lab ingest (results), and rebuilt from the database by
``miniapp readmodel rebuild``. One hash per resident, ``results:{<resident id>}``, one field per
tube, so the read for a family is one pipelined round trip and each key lives in one slot.

Memory (target: at most 200 bytes per resident, ~1M residents). A field's value is kept far
under Redis's 64-byte ``hash-max-listpack-value`` so the small hashes stay listpack-encoded
(a hashtable-encoded hash costs ~280 bytes more)::

    "<state code>|<round id>|<site id>|<sampled unix s>|<tested unix s or empty>"
    e.g. "n|3|17|1647399600|1647410000" (28 bytes; at most ~40 with large ids)

State codes (:data:`STATE_CODES`)::

    n negative   p positive   r retest_required   i invalid   w pending ("waiting")

Round and site names are interned: each distinct name gets a small integer id, kept in ONE
Redis hash ``names:{readmodel}`` (one slot) with the fields ``id:<name>`` -> id,
``name:<id>`` -> name, ``next`` (the id counter) and ``epoch`` (set when the hash is created).
A Lua script (one key) allocates the ids of a batch's new names at once. Rounds and sites are
few, and an id's name never changes (a renamed site simply gets a new id), so each process
keeps both directions in memory (:class:`_Names`, per Redis server and database, no TTL):

* ``record`` needs a round trip to the script only for a name this process has not seen yet;
  its writes are one pipelined round trip: on standalone Redis a script per 1,000 hashes that
  writes only if ``epoch`` is still the one the ids came from; on Redis Cluster (a script may
  not span slots) one ``HSET`` per hash, then ``epoch`` read back;
* ``read`` stays ONE pipelined round trip when the names of the ids found are cached; on a
  miss (a cold process) it fetches just those ids with one ``HMGET`` (a second round trip).

Both also read ``epoch``: if the names hash was flushed and re-created, the epoch differs, the
cache is dropped, and ``record`` writes its batch (again) with fresh ids.

Kept results screens (``miniapp_api/accountview.py``) show these hashes, so a write must drop
them. Rather than asking the database which accounts hold each resident of a batch (a
quarter of a 10,000-result batch's time on a morning's tables, for accounts almost none of
which are looking), the screens say so themselves: building one adds its account to
``results:{<resident id>}:watchers`` (a set in the hash's slot, :data:`WATCH_TTL_SECONDS`)
before reading each hash, and ``record`` reads the watchers of what it wrote in the same
script (or pipeline) and forgets their screens. A result nobody is watching costs nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from miniapp_api.accountview import RESULTS_SCREEN, VIEW_TTL_SECONDS, forget

_SEP = "|"
NAMES_KEY = "names:{readmodel}"
# Redis's default hash-max-listpack-value: a longer value turns the whole hash into a hashtable.
MAX_VALUE_BYTES = 64

STATE_CODES: dict[str, str] = {
    "negative": "n",
    "positive": "p",
    "retest_required": "r",
    "invalid": "i",
    "pending": "w",
}
_STATES = {code: state for state, code in STATE_CODES.items()}

# KEYS: the names hash; ARGV: names. Returns {epoch, {id of each name}}.
_INTERN = """
local h = KEYS[1]
local epoch = redis.call('HGET', h, 'epoch')
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. '.' .. t[2]
  redis.call('HSET', h, 'epoch', epoch)
end
local ids = {}
for i, name in ipairs(ARGV) do
  local id = redis.call('HGET', h, 'id:' .. name)
  if not id then
    id = tostring(redis.call('HINCRBY', h, 'next', 1))
    redis.call('HSET', h, 'id:' .. name, id, 'name:' .. id, name)
  end
  ids[i] = id
end
return {epoch, ids}
"""


# KEYS: the names hash, then a result hash and its watchers set per entry; ARGV: the epoch the
# ids were interned under, then a field and a value per entry. Writes only if the epoch is
# still current. Returns {current epoch, the watchers of the hashes written, ...}.
_WRITE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[1] then
  return {epoch}
end
local answer = {epoch}
for i = 2, #KEYS, 2 do
  redis.call('HSET', KEYS[i], ARGV[i], ARGV[i + 1])
  for _, account in ipairs(redis.call('SMEMBERS', KEYS[i + 1])) do
    answer[#answer + 1] = account
  end
end
return answer
"""
# KEYS: a result hash and its watchers set per entry; ARGV: the field (tube) per entry.
# Deletes the fields; returns the watchers of the hashes touched.
_DROP = """
local answer = {}
for i = 1, #KEYS, 2 do
  redis.call('HDEL', KEYS[i], ARGV[(i + 1) / 2])
  for _, account in ipairs(redis.call('SMEMBERS', KEYS[i + 1])) do
    answer[#answer + 1] = account
  end
end
return answer
"""
# A watch must outlive the results screen it guards: the view lives at most VIEW_TTL_SECONDS
# after the fill that follows the watch.
WATCH_TTL_SECONDS = VIEW_TTL_SECONDS + 30
# Result hashes per call of _WRITE: ~1 ms of Redis time, so other clients wait no longer.
WRITE_CHUNK = 1000


@dataclass(frozen=True)
class ResultEntry:
    """One sampling of one resident and its state (``pending`` until the lab answers)."""

    tube_no: str
    round_name: str
    site_name: str
    sampled_at: datetime
    state: str  # pending | negative | positive | retest_required | invalid
    tested_at: datetime | None = None


def encode_value(
    entry: ResultEntry, round_id: int, site_id: int, seconds: dict[datetime, str] | None = None
) -> str:
    """The compact field value of ``entry`` (see the module docstring). ``seconds`` caches
    the Unix seconds of the times seen (a batch's people share a tube's tested time, and
    ``datetime.timestamp`` was a fifth of a 10,000-entry batch's encoding)."""
    code = STATE_CODES.get(entry.state)
    if code is None:
        raise ValueError(f"unknown result state {entry.state!r}")
    cache = {} if seconds is None else seconds
    tested = _unix(entry.tested_at, cache) if entry.tested_at else ""
    return _SEP.join((code, str(round_id), str(site_id), _unix(entry.sampled_at, cache), tested))


def _unix(moment: datetime, cache: dict[datetime, str]) -> str:
    found = cache.get(moment)
    if found is None:
        found = cache[moment] = str(int(moment.timestamp()))
    return found


@dataclass(frozen=True)
class StoredValue:
    """A decoded field value, names still as ids."""

    state: str
    round_id: int
    site_id: int
    sampled_at: datetime
    tested_at: datetime | None

    def entry(self, tube_no: str, round_name: str, site_name: str) -> ResultEntry:
        return ResultEntry(
            tube_no, round_name, site_name, self.sampled_at, self.state, self.tested_at
        )


def decode_value(value: str) -> StoredValue:
    """Parse a field value; ``ValueError`` naming the value if it is not this format."""
    parts = value.split(_SEP)
    try:
        if len(parts) != 5 or parts[0] not in _STATES:
            raise ValueError
        code, round_id, site_id, sampled, tested = parts
        return StoredValue(
            state=_STATES[code],
            round_id=int(round_id),
            site_id=int(site_id),
            sampled_at=datetime.fromtimestamp(int(sampled), UTC),
            tested_at=datetime.fromtimestamp(int(tested), UTC) if tested else None,
        )
    except ValueError:
        raise ValueError(
            f"unknown results read model value {value!r}; run `miniapp readmodel rebuild`"
        ) from None


def _key(resident_id: str) -> str:
    return f"results:{{{resident_id}}}"


def _watchers_key(resident_id: str) -> str:
    """The accounts whose kept results screen shows this resident (same slot as the hash)."""
    return f"results:{{{resident_id}}}:watchers"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _Names:
    """This process's copy of the interned names of one Redis database (both directions)."""

    epoch: str | None = None
    ids: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    MAX_ENTRIES = 100_000  # a bound, far above the rounds and sites there are

    def learn(self, epoch: str, pairs: Iterable[tuple[str, int]]) -> None:
        if epoch != self.epoch or len(self.ids) > self.MAX_ENTRIES:
            self.ids, self.names, self.epoch = {}, {}, epoch
        for name, id_ in pairs:
            self.ids[name] = id_
            self.names[id_] = name

    def check(self, epoch: str | None) -> bool:
        """Whether the copy is of the current names hash; dropped if not."""
        if epoch is not None and epoch == self.epoch:
            return True
        self.ids, self.names, self.epoch = {}, {}, epoch
        return False


_caches: dict[tuple[Any, ...], _Names] = {}
_lock = threading.Lock()


def _names_of(client: redis.Redis) -> _Names:
    """The process's copy of the names map of the Redis ``client`` talks to."""
    pool = getattr(client, "connection_pool", None)
    where: tuple[Any, ...]
    if pool is not None:
        kwargs = pool.connection_kwargs
        where = (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db", 0))
    else:  # a RedisCluster has no single pool: one copy per client (the epoch guards staleness)
        where = ("cluster", id(client))
    with _lock:
        return _caches.setdefault(where, _Names())


class ResultReadModel:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._names = _names_of(client)
        # A script may only touch keys of one slot on a cluster: there, one HSET per key.
        self._scripted = not isinstance(client, redis.RedisCluster)
        self._write = client.register_script(_WRITE)
        self._drop = client.register_script(_DROP)

    def record(self, entries: Iterable[tuple[str, ResultEntry]]) -> None:
        """Upsert entries keyed by (resident public id, tube_no), in one round trip (plus one
        to intern names this process has not seen), then drop the results screen kept by the
        accounts watching those residents (:meth:`read` with a ``watcher``), if any: one more
        round trip."""
        batch = list(entries)
        if not batch:
            return
        watchers = self._record(batch)
        if watchers:
            forget(self._redis, sorted(watchers), (RESULTS_SCREEN.field,))

    def _record(self, batch: list[tuple[str, ResultEntry]]) -> set[str]:
        """Write the batch; the watchers of the hashes written."""
        wanted = {n for _, e in batch for n in (e.round_name, e.site_name)}
        for _ in range(3):
            with _lock:
                missing = sorted(wanted - self._names.ids.keys())
            if missing or self._names.epoch is None:
                self._intern(missing)
            with _lock:
                ids, epoch = dict(self._names.ids), self._names.epoch
            seconds: dict[datetime, str] = {}
            writes = [
                (r, e.tube_no, encode_value(e, ids[e.round_name], ids[e.site_name], seconds))
                for r, e in batch
            ]
            current, watchers = (self._scripted_write if self._scripted else self._pipelined_write)(
                writes, epoch or ""
            )
            with _lock:
                if self._names.check(current):
                    return watchers
            # The names hash was re-created under us (e.g. flushed): intern again, rewrite.
        raise redis.RedisError("results read model: names hash keeps changing")

    def _scripted_write(
        self, writes: list[tuple[str, str, str]], epoch: str
    ) -> tuple[str | None, set[str]]:
        """Standalone Redis: a script per chunk of hashes (one command instead of one per
        hash: most of a batch's client time), writing only under ``epoch``; the current one
        and the watchers of what was written."""
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, len(writes), WRITE_CHUNK):
            chunk = writes[start : start + WRITE_CHUNK]
            keys = [NAMES_KEY, *(k for r, _, _ in chunk for k in (_key(r), _watchers_key(r)))]
            args = [epoch, *(part for _, tube, value in chunk for part in (tube, value))]
            self._write(keys=keys, args=args, client=pipe)
        answers = pipe.execute()
        found = {_text(e) if e is not None else None for e, *_ in answers}
        watchers = {_text(w) for _, *written in answers for w in written}
        current = epoch if found == {epoch} else next((e for e in found if e != epoch), None)
        return current, watchers

    def _pipelined_write(
        self, writes: list[tuple[str, str, str]], epoch: str
    ) -> tuple[str | None, set[str]]:
        """Redis Cluster: one HSET per hash, then its watchers (the same slot, so in this
        order on its node), in one pipeline; then the current epoch (a stale batch is written
        again by the caller)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(NAMES_KEY, "epoch")
        for resident_id, tube, value in writes:
            pipe.hset(_key(resident_id), tube, value)
            pipe.smembers(_watchers_key(resident_id))
        current, *answers = pipe.execute()
        watchers = {_text(w) for members in answers[1::2] for w in members}
        return (_text(current) if current is not None else None), watchers

    def _intern(self, names: list[str]) -> None:
        epoch, ids = self._redis.register_script(_INTERN)(keys=[NAMES_KEY], args=names)
        with _lock:
            self._names.learn(_text(epoch), zip(names, (int(_text(i)) for i in ids), strict=True))

    def read(
        self, resident_ids: Sequence[str], watcher: str | None = None
    ) -> dict[str, list[ResultEntry]]:
        """Entries per resident, newest sampling first (one round trip for all residents
        when the names are cached in this process; else one more for the missing names).

        ``watcher``: the account whose kept results screen is built from this read. It is
        added to each resident's watchers BEFORE the hash is read (the same slot, so in that
        order), so a result written after the read finds the account and :meth:`record`
        drops the screen; a result written before it is in what was read.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(NAMES_KEY, "epoch")
        for resident_id in resident_ids:
            if watcher is not None:
                pipe.sadd(_watchers_key(resident_id), watcher)
                pipe.expire(_watchers_key(resident_id), WATCH_TTL_SECONDS)
            pipe.hgetall(_key(resident_id))
        epoch, *answers = pipe.execute()
        hashes = answers[2::3] if watcher is not None else answers
        stored = {
            resident_id: [(_text(k), decode_value(_text(v))) for k, v in fields.items()]
            for resident_id, fields in zip(resident_ids, hashes, strict=True)
        }
        wanted = {
            i for values in stored.values() for _, s in values for i in (s.round_id, s.site_id)
        }
        with _lock:
            self._names.check(_text(epoch) if epoch is not None else None)
            names = {i: self._names.names[i] for i in wanted if i in self._names.names}
        missing = sorted(wanted - names.keys())
        if missing:
            fetched = self._redis.hmget(NAMES_KEY, [f"name:{i}" for i in missing])
            unknown = [i for i, n in zip(missing, fetched, strict=True) if n is None]
            if unknown:
                raise ValueError(
                    f"results read model: unknown name ids {unknown}; "
                    "run `miniapp readmodel rebuild`"
                )
            got = {i: _text(n) for i, n in zip(missing, fetched, strict=True) if n is not None}
            names.update(got)
            if epoch is not None:
                with _lock:
                    self._names.learn(_text(epoch), ((n, i) for i, n in got.items()))
        found: dict[str, list[ResultEntry]] = {}
        for resident_id, values in stored.items():
            entries = [s.entry(tube, names[s.round_id], names[s.site_id]) for tube, s in values]
            found[resident_id] = sorted(entries, key=lambda e: e.sampled_at, reverse=True)
        return found

    def clear(self, resident_ids: Sequence[str]) -> None:
        if resident_ids:
            self._redis.delete(*(_key(r) for r in resident_ids))

    def drop(self, entries: Iterable[tuple[str, str]]) -> None:
        """Remove entries keyed by (resident public id, tube_no), the residents' other entries
        kept (retention purged those results), then drop the results screens of the accounts
        watching them. One pipelined round trip (on standalone Redis a script per
        :data:`WRITE_CHUNK` entries, as :meth:`record` writes; on Redis Cluster an HDEL and
        an SMEMBERS per entry), and one more if anyone watches."""
        batch = list(entries)
        if not batch:
            return
        pipe = self._redis.pipeline(transaction=False)
        if self._scripted:
            for start in range(0, len(batch), WRITE_CHUNK):
                chunk = batch[start : start + WRITE_CHUNK]
                keys = [k for r, _ in chunk for k in (_key(r), _watchers_key(r))]
                self._drop(keys=keys, args=[tube for _, tube in chunk], client=pipe)
            watchers = {_text(w) for found in pipe.execute() for w in found}
        else:
            for resident_id, tube_no in batch:
                pipe.hdel(_key(resident_id), tube_no)
                pipe.smembers(_watchers_key(resident_id))
            watchers = {_text(w) for members in pipe.execute()[1::2] for w in members}
        if watchers:
            forget(self._redis, sorted(watchers), (RESULTS_SCREEN.field,))

    def forget_residents(self, resident_ids: Sequence[str]) -> None:
        """Delete these residents' hashes and their watchers (account deletion: the residents
        are gone). One DEL per key in one pipeline, so it runs unchanged on Redis Cluster."""
        if resident_ids:
            pipe = self._redis.pipeline(transaction=False)
            for resident_id in resident_ids:
                pipe.delete(_key(resident_id), _watchers_key(resident_id))
            pipe.execute()

    def stop_watching(self, account_id: str, resident_ids: Sequence[str]) -> None:
        """Take ``account_id`` off these residents' watchers (it was deleted; they stay)."""
        if resident_ids:
            pipe = self._redis.pipeline(transaction=False)
            for resident_id in resident_ids:
                pipe.srem(_watchers_key(resident_id), account_id)
            pipe.execute()
