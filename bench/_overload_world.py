"""The set-up of ``bench/overload.py``: residents with results and live sessions.

A morning after the lab has answered: the sampling world of ``bench/ingest.py``
(:mod:`_ingest_world`, loaded with ``COPY``: residents, one account each, every tenth also held
by a relative's account, tubes of 10, samplings), a negative person result for every sampling
(one ``INSERT ... SELECT``), the Redis read model rebuilt from the database by the app's own
``rebuild_read_model`` (what ``miniapp readmodel rebuild`` runs), and one session per account
made by the app's :class:`SessionStore`, and the accounts' links cached as lookups leave them
(:func:`warm_links`). So every measured request is a real authenticated lookup: the session
hash, the account's links (a cached copy, filled from PostgreSQL when it expires) and the read
model, in Redis.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import _ingest_world as world_mod
import psycopg
import redis
from _overload_apps import b64_key
from _procs import ScratchDatabase
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from miniapp_api.db import Database
from miniapp_api.migrate import upgrade
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.holdings import LINKS_TTL_SECONDS, holdings
from miniapp_api.results.rebuild import rebuild_read_model
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.sessions import SessionStore

SESSION_TTL_SECONDS = 86_400


@dataclass(frozen=True)
class User:
    token: str
    channel: str  # wechat | alipay: the account's platform, sent as X-Client-Channel


def psycopg_conninfo(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


def build(
    database_url: str,
    redis_url: str,
    crypto: PersonalDataCrypto,
    residents: int,
    say: Callable[[str], None],
) -> list[User]:
    """Load the world; one :class:`User` (session) per account, in random order."""
    spec = world_mod.WorldSpec(
        tubes=max(1, residents // 10),
        http_tubes=0,
        capacity=10,
        dependent_share=0.1,
        names="zh",
    )
    conninfo = load_answered(database_url, crypto, spec, say)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        accounts = conn.execute("SELECT public_id, platform FROM accounts ORDER BY id").fetchall()
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    database = Database(database_url, pool_size=1)
    try:
        with database.session() as session:
            entries = rebuild_read_model(session, ResultReadModel(client), batch_size=5000)
        say(f"    read model rebuilt: {entries:,} entries")
        users = sessions(client, [(str(a), str(p)) for a, p in accounts])
        say(f"    {len(users):,} sessions")
        with database.session() as session:
            warm_links(session, client, [str(a) for a, _ in accounts])
        say(f"    {len(accounts):,} accounts' links cached, expiring over {LINKS_TTL_SECONDS}s")
    finally:
        database.dispose()
        client.close()
    random.Random(7).shuffle(users)
    return users


def load_answered(
    database_url: str,
    crypto: PersonalDataCrypto,
    spec: world_mod.WorldSpec,
    say: Callable[[str], None],
) -> str:
    """Load the sampling world of ``spec`` and answer every tube (one negative result per
    sampling); the database's psycopg conninfo."""
    conninfo = psycopg_conninfo(database_url)
    world = world_mod.build(conninfo, crypto, spec, say)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO person_results (sampling_id, resident_id, tube_id, state, tested_at,"
            " updated_at) SELECT id, resident_id, tube_id, 'negative', %s, now() FROM samplings",
            (world.tested_at,),
        )
        conn.execute("ANALYZE person_results")
    return conninfo


def warm_links(session: Session, client: redis.Redis, account_ids: list[str]) -> None:
    """Start in the steady state of a city that has been looking up for a while.

    A lookup reads which residents the account holds from a Redis copy that the app fills
    from PostgreSQL and lets expire after ``LINKS_TTL_SECONDS``; a fill costs a few times a
    cached lookup. Cold, every first lookup fills (the first seconds would measure that);
    filled all at once, every copy would expire in the same second two minutes later. So
    each copy is filled by the app's own ``holdings``, then given a remaining lifetime
    spread evenly over the TTL: from then on, copies expire and are refilled by lookups at
    the rate the number of residents and the arrival rate imply.
    """
    for account_id in account_ids:
        holdings(session, client, account_id)
    spread_lifetimes(client, "links:*", LINKS_TTL_SECONDS)


def spread_lifetimes(client: redis.Redis, pattern: str, ttl: int) -> None:
    """Give the keys matching ``pattern`` (generation counters aside) remaining lifetimes
    spread evenly over ``ttl``: filled at once, they would all expire in the same second, where
    a city's copies expire and are refilled all the time."""
    rng = random.Random(11)
    pipe = client.pipeline(transaction=False)
    for key in client.scan_iter(match=pattern, count=5000):
        if not key.endswith(b":generation"):
            pipe.expire(key, rng.randint(1, ttl))
    pipe.execute()


def sessions(client: redis.Redis, accounts: list[tuple[str, str]]) -> list[User]:
    """A session per account, made as login makes it (``SessionStore.create``)."""
    store = SessionStore(client, SESSION_TTL_SECONDS)
    users: list[User] = []
    for account_id, platform in accounts:
        users.append(User(store.create(account_id, platform), platform))
    return users


def flush_redis(redis_url: str) -> None:
    """Empty the bench's Redis database (set-up and clean-up)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        client.flushdb()
    finally:
        client.close()


def scratch_world(
    stack: ExitStack, admin_url: str, prefix: str, redis_url: str
) -> tuple[ScratchDatabase, tuple[str, str], PersonalDataCrypto]:
    """A migrated scratch database ``<prefix>_<random>`` and an empty Redis database, both
    cleaned up with ``stack``, and fresh data and index keys: (database, keys as the app's
    settings take them, the crypto they make). bench-overload's and bench-hotpath's set-up."""
    database = ScratchDatabase(admin_url, prefix)
    stack.callback(database.drop)
    upgrade(database.url)
    flush_redis(redis_url)
    stack.callback(flush_redis, redis_url)
    keys = (b64_key(), b64_key())
    crypto = PersonalDataCrypto(base64.b64decode(keys[0]), base64.b64decode(keys[1]))
    return database, keys, crypto
