"""The set-up of ``bench/hotpath.py``: families of two with results, sessions and codes.

The sampling world of ``bench/overload.py`` (:mod:`_ingest_world` loaded with ``COPY``, a
negative result for every sampling, the read model rebuilt by the app's own
``rebuild_read_model``, the accounts' links cached as lookups leave them), with every other
resident also held by the next resident's account as a dependent (``dependent_share=0.5``). The
accounts that hold one are the shape measured: a resident's account with itself and one
dependent, each with a result. Their sessions are made by the app's ``SessionStore``; their
codes are issued later through the app itself (:func:`fetch_every`), as a first request would.
"""

from __future__ import annotations

import http.client
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import _ingest_world as world_mod
import psycopg
import redis
from _overload_world import (
    User,
    load_answered,
    sessions,
    spread_lifetimes,
    warm_links,
)

from miniapp_api.accountview import VIEW_TTL_SECONDS
from miniapp_api.db import Database
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.results.rebuild import rebuild_read_model
from miniapp_api.security.crypto import PersonalDataCrypto

LOOPBACK = "127.0.0.1"

# Accounts holding a dependent, with their two residents' public ids.
FAMILIES = """
SELECT a.public_id, a.platform, own.public_id, dep.public_id
FROM accounts a
JOIN account_residents s ON s.account_id = a.id AND s.relation = 'self'
JOIN residents own ON own.id = s.resident_id
JOIN account_residents d ON d.account_id = a.id AND d.relation = 'dependent'
JOIN residents dep ON dep.id = d.resident_id
ORDER BY a.id
"""


@dataclass(frozen=True)
class Family:
    account_id: str
    user: User  # the account's session
    residents: tuple[str, str]  # self, dependent (public ids)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user.token}", "X-Client-Channel": self.user.channel}


def build(
    database_url: str,
    redis_url: str,
    crypto: PersonalDataCrypto,
    families: int,
    say: Callable[[str], None],
) -> list[Family]:
    """Load the world; one session per family, families in random order."""
    spec = world_mod.WorldSpec(
        tubes=max(1, -(-2 * families // 10)),  # two residents a family, tubes of 10
        http_tubes=0,
        capacity=10,
        dependent_share=0.5,
        names="zh",
    )
    conninfo = load_answered(database_url, crypto, spec, say)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(FAMILIES).fetchall()[:families]
        every_account = [str(a) for (a,) in conn.execute("SELECT public_id FROM accounts")]
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    database = Database(database_url, pool_size=1)
    try:
        with database.session() as session:
            entries = rebuild_read_model(session, ResultReadModel(client), batch_size=5000)
        say(f"    read model rebuilt: {entries:,} entries")
        users = sessions(client, [(str(a), str(p)) for a, p, _, _ in rows])
        with database.session() as session:
            warm_links(session, client, every_account)
    finally:
        database.dispose()
        client.close()
    found = [
        Family(str(a), user, (str(own), str(dep)))
        for (a, _, own, dep), user in zip(rows, users, strict=True)
    ]
    random.Random(7).shuffle(found)
    return found


def spread_view_lifetimes(redis_url: str) -> None:
    """The accounts' views, filled at set-up within seconds, given remaining lifetimes spread
    over ``VIEW_TTL_SECONDS``, as the lookups' links copies are (``warm_links``): a measured
    window then sees the share of views expire and be built again that a city's steady state
    would at this request rate, not all of them at once."""
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        spread_lifetimes(client, "view:*", VIEW_TTL_SECONDS)
    finally:
        client.close()


def fetch_every(port: int, families: list[Family], screen: str, threads: int = 8) -> int:
    """``GET /api/v1/residents/<id>/<screen>`` once for every resident (self and dependent):
    ``code`` issues the codes, ``code.png`` renders the images (each kept in its account's
    view from then on); returns how many answered 200."""

    def fetch(job: tuple[Family, str]) -> int:
        family, resident = job
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        try:
            connection.request(
                "GET", f"/api/v1/residents/{resident}/{screen}", None, family.headers()
            )
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    jobs = [(f, r) for f in families for r in f.residents]
    with ThreadPoolExecutor(threads) as pool:
        return sum(status == 200 for status in pool.map(fetch, jobs))
