"""A shared Redis outage through the production shape (`miniapp stack`): HAProxy keeps the
nodes in rotation, so the clients get the app's own failure policy, not the edge's.

HAProxy health-checks the nodes on ``/healthz`` (liveness), not ``/readyz`` (which fails while
Redis or PostgreSQL is down). Every node shares the one Redis: taking them out for its outage
helps nobody, and would replace the app's answers (critical requests admitted on a per-worker
bucket, the rest a 503 naming what works; README, "If Redis is unreachable") by the edge's
blanket 503 ``queue_full`` (README, "The front door (HAProxy) and the production shape").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from miniapp_api.residents.models import Relation
from miniapp_api.stack.lifecycle import running
from tests.integration.stack.conftest import (
    NODES,
    MakeStack,
    Stack,
    authorization,
    login,
    stack_app,
    up,
)
from tests.support.factories import bearer, make_account, make_resident
from tests.support.redis_servers import RedisServer

# Critical and needing no Redis for its own work: the JWKS the sampling sites verify codes
# with, and the H5 lookup page that every 503 names as an alternative.
KEYS = "/api/v1/codes/keys"
PAGE = "/lookup"
# Critical too, but it reads the resident's session from Redis: it cannot be served.
LOOKUP = "/api/v1/results"
LOGIN = "/api/v1/auth/wechat"
EVERY_PROGRAM = {"haproxy", *NODES, "worker", "emulator"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the JSON answer, if it was JSON
    retry_after: str | None


def ask(http: requests.Session, stack: Stack, path: str, headers: dict[str, str]) -> Answer:
    response = http.get(stack.edge + path, headers=headers, timeout=10)
    try:
        body = response.json()
    except ValueError:  # the H5 page is HTML
        body = None
    return Answer(response.status_code, body, response.headers.get("Retry-After"))


@dataclass(frozen=True)
class Moment:
    """What HAProxy's stats and the clients showed at one moment."""

    at: float  # seconds since Redis went away
    servers: dict[str, str]  # node -> its status in HAProxy's stats ("UP", "UP 1/2", "DOWN")
    keys: Answer
    page: Answer
    lookup: Answer

    @property
    def in_rotation(self) -> bool:
        """Both nodes UP for HAProxy ("UP 1/2", a check failed, still takes requests)."""
        return set(self.servers) == set(NODES) and all(
            status.startswith("UP") for status in self.servers.values()
        )


def observe(http: requests.Session, stack: Stack, resident: dict[str, str], since: float) -> Moment:
    servers = {name: row["status"] for name, row in stack.servers().items()}
    return Moment(
        round(time.monotonic() - since, 2),
        servers,
        ask(http, stack, KEYS, {}),
        ask(http, stack, PAGE, {}),
        ask(http, stack, LOOKUP, resident),
    )


def is_the_apps_redis_answer(answer: Answer) -> bool:
    """The app's 503 for a missing Redis, in the common error shape with what works instead
    (the edge's own 503 has the same shape, but reason ``queue_full``)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    detail = body.get("detail") or {}
    return (
        answer.status == 503
        and set(body) == {"code", "message", "detail"}
        and body["code"] == "temporarily_unavailable"
        and detail.get("reason") == "redis_unavailable"
        and bool(detail.get("alternatives"))
        and int(answer.retry_after or 0) >= 1
    )


def health_check(stack: Stack) -> tuple[float, int]:
    """``inter`` (seconds) and ``fall`` of the nodes' health check, as rendered."""
    config = (stack.directory / "edge" / "haproxy.cfg").read_text()
    line = next(ln.split() for ln in config.splitlines() if ln.strip().startswith("default-server"))
    inter = line[line.index("inter") + 1]
    seconds = float(inter[:-2]) / 1000 if inter.endswith("ms") else float(inter.rstrip("s"))
    return seconds, int(line[line.index("fall") + 1])


def times_marked_down(stack: Stack) -> dict[str, int]:
    """How often HAProxy has taken each node out of rotation (its ``chkdown`` counter)."""
    return {name: int(row["chkdown"] or 0) for name, row in stack.servers().items()}


def fresh_login(stack: Stack, *, within: float) -> dict[str, str] | None:
    """A new resident's Authorization header once a login through HAProxy and a lookup with
    it succeed (None: not within ``within`` seconds)."""
    deadline = time.monotonic() + within
    with requests.Session() as http:
        while time.monotonic() < deadline:
            token = login(stack, http)
            if token is not None:
                headers = authorization(token)
                if ask(http, stack, LOOKUP, headers).status == 200:
                    return headers
            time.sleep(0.3)
    return None


def test_a_redis_outage_keeps_both_nodes_in_rotation_and_the_apps_answers_reach_clients(
    private_redis: RedisServer, make_stack: MakeStack
) -> None:
    """Redis (a private server) killed for twice HAProxy's fall x inter plus one interval
    (10 s with inter 2s, fall 2), then started again, empty. Throughout, HAProxy lists both
    nodes UP and never marks one down; the JWKS and the H5 lookup page (critical, no Redis
    needed) are answered 200 by the app through HAProxy (failing open); a resident's results
    lookup (critical, but its session is in Redis) gets the app's 503 ``redis_unavailable``
    with its alternatives, not the edge's 503 ``queue_full``. Afterwards a fresh login and
    lookup succeed through HAProxy, and every program of the stack is still running.

    Were the nodes health-checked on ``/readyz``, HAProxy would mark both DOWN within fall x
    inter plus one interval of the outage (about 4 s): the first assertion on the outage
    ("HAProxy took a node out") fails, and behind it the JWKS and the page get the edge's 503
    ``queue_full`` instead of 200, and the lookup that 503 instead of the app's.
    """
    stack = make_stack(redis_url=private_redis.url())
    up(stack)
    inter, fall = health_check(stack)
    outage = 2 * fall * inter + inter  # clearly past the time a failing check takes a node out
    with stack_app(stack) as app:
        resident = bearer(app, make_account(app, [(make_resident(app), Relation.SELF)]))

    with requests.Session() as http:
        started = time.monotonic()
        before = observe(http, stack, resident, started)
        while not before.in_rotation and time.monotonic() - started < fall * inter + 5:
            time.sleep(0.2)  # HAProxy's first checks of the fresh nodes
            before = observe(http, stack, resident, started)
        assert before.in_rotation, before
        assert (before.keys.status, before.page.status, before.lookup.status) == (200, 200, 200)
        marked_down = times_marked_down(stack)

        killed_at = time.monotonic()
        private_redis.kill()
        during: list[Moment] = []
        while time.monotonic() - killed_at < outage:
            during.append(observe(http, stack, resident, killed_at))
            time.sleep(0.2)
        private_redis.start()  # same port, empty: no sessions, no scripts
        resident_again = fresh_login(stack, within=30)
        assert resident_again is not None, "no fresh login and lookup after Redis came back"
        after = observe(http, stack, resident_again, killed_at)

    assert not [m for m in during if not m.in_rotation], "HAProxy took a node out"
    assert times_marked_down(stack) == marked_down
    assert not [m for m in during if m.keys.status != 200 or "keys" not in m.keys.body]
    assert not [m for m in during if m.page.status != 200]
    assert not [m for m in during if not is_the_apps_redis_answer(m.lookup)]
    assert after.in_rotation, after
    assert (after.keys.status, after.page.status, after.lookup.status) == (200, 200, 200)
    assert set(running(stack.directory)) == EVERY_PROGRAM  # the push worker too
