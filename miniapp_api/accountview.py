"""An account's hot screens, ready to send, kept in Redis in the account's own slot.

On a bad morning almost every request is "show my result" or "show my code". Both answers
depend on one account only, change rarely (a result arrives, a code is re-issued) and are read
again and again while people wait in line. So the answer itself is kept, already encoded:

    view:{<account id>}   a hash
      results             "<valid until>|<version>|<JSON body of GET /api/v1/results>"
      code:<resident>     "<valid until>|<version>|<JSON body of GET .../<resident>/code>"
      png:<resident>      "<valid until>|<version>|<PNG of that code>"   (svg:<resident> likewise)

``<valid until>`` is a Unix second after which the body would be wrong even if nothing changed:
a code's expiry, or the moment a pending result turns overdue. ``<version>`` is what else the
body was made with that a deployment can change (a code screen: the signing key's id, so a
key rotation re-signs at once); a body of another version is not used.

The key shares the ``{account id}`` hash tag with the caller's session, quota and links copy
(``sessions.py``, ``residents/holdings.py``), so the admission gate reads all of them with ONE
single-slot script in its one pipeline (``admission/prefetch.py``), and a hot route whose field
is there answers with no other round trip, no database and no model building.

Correctness rests on two rules, the same as the links copy's:

* **Whoever changes what a field shows calls :func:`forget` after the commit** for every
  account holding the resident concerned: links changes drop the whole view, a published or
  pending result drops ``results``, a re-issued code drops that resident's code and images.
  ``forget`` bumps the account's generation (``links:{<account id>}:generation``).
* **A fill is written only if the generation it saw before reading is still current**
  (:data:`_FILL_UNLESS_FORGOTTEN`), so a change racing with a fill cannot put the old answer
  back; and the hash expires at most :data:`VIEW_TTL_SECONDS` after its FIRST fill
  (``EXPIRE ... NX``, Redis >= 7.0; later fills do not extend it), so a change whose
  ``forget`` Redis missed is outlived by at most that.

The bodies hold what the screens show anyway (masked names, results, the code token that the
QR symbol carries); never the session, an ID number or a phone number.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from miniapp_api.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

VIEW_TTL_SECONDS = 120
# The WSGI environ key under which the admission gate leaves the ViewSnapshot it read.
PREFETCHED_VIEW = "miniapp.prefetched_view"
# A generation only has to outlive the fills in flight when it moved (a fill reads it, then
# Redis and the database, then writes): minutes, not a day. Every result published bumps its
# holders' counters, so a day would keep one key per account of a whole morning's results.
# Expired, it reads as 0 again: a fill that saw a higher one is refused, which is safe.
_GENERATION_TTL_SECONDS = 300
_SEP = b"|"

# KEYS: view, generation; ARGV: generation seen before reading, TTL, then field, value, ...
_FILL_UNLESS_FORGOTTEN = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
return 1
"""


def view_key(account_id: str) -> str:
    return f"view:{{{account_id}}}"


def links_key(account_id: str) -> str:
    return f"links:{{{account_id}}}"


def generation_key(account_id: str) -> str:
    return f"links:{{{account_id}}}:generation"


# A screen of one person: no cache may keep it, shared caches least of all.
NO_STORE = "private, no-store"


@dataclass(frozen=True)
class KeptScreen:
    """How a route's answer is kept in the account view, and sent from it.

    Declared on the route (``@operation(kept=...)``): the admission gate then reads the field
    with the session, and a valid body is answered at the gate, before Flask
    (``admission/kept.py``); the view builds and fills it when it is not there.
    """

    field: str  # a template over the route's arguments, e.g. "code:{resident_id}"
    mimetype: str
    filename: str | None = None  # an image: named for a "save image" in a browser
    signed: bool = False  # made with today's code signing key (its id is the version)

    def field_for(self, arguments: Mapping[str, Any]) -> str:
        return self.field.format_map(arguments)

    def version(self, signing_kid: str) -> str:
        return signing_kid if self.signed else ""

    def headers(self) -> dict[str, str]:
        """The headers besides the content type and length."""
        headers = {"Cache-Control": NO_STORE}
        if self.filename:
            headers["Content-Disposition"] = f"inline; filename={self.filename}"
        return headers


# The kept screens, declared once: the routes name them (``@operation(kept=...)``) and the
# writers that make them stale drop their fields (:func:`code_fields`, ``RESULTS_SCREEN.field``).
RESULTS_SCREEN = KeptScreen("results", "application/json")
CODE_SCREEN = KeptScreen("code:{resident_id}", "application/json", signed=True)
PNG_SCREEN = KeptScreen("png:{resident_id}", "image/png", "code.png", signed=True)
SVG_SCREEN = KeptScreen("svg:{resident_id}", "image/svg+xml", "code.svg", signed=True)


def code_fields(resident_id: str) -> list[str]:
    """The JSON, PNG and SVG fields of a resident's code."""
    arguments = {"resident_id": resident_id}
    return [screen.field_for(arguments) for screen in (CODE_SCREEN, PNG_SCREEN, SVG_SCREEN)]


@dataclass(frozen=True)
class ViewSnapshot:
    """What the gate read of an account's slot, for the view to use or to fill.

    ``generation`` is the one to fill under; ``links`` the cached links copy (JSON) or
    ``None``; ``fields`` the requested view fields (``None`` where missing).
    """

    account_id: str
    generation: bytes
    links: bytes | None
    fields: dict[str, bytes | None] = field(default_factory=dict)

    def body(self, name: str, now: float, version: str = "") -> bytes | None:
        """The kept body of ``name`` if it is there, of ``version``, and still valid at Unix
        time ``now``."""
        stored = self.fields.get(name)
        if not stored:
            return None
        until, _, rest = stored.partition(_SEP)
        made_with, sep, body = rest.partition(_SEP)
        if not sep or not until.isdigit() or now >= int(until) or made_with != version.encode():
            return None
        return body


def encode(body: bytes, valid_until: float, version: str = "") -> bytes:
    """A field's value: ``body``, valid until Unix time ``valid_until``, made with ``version``
    (no ``|`` in it)."""
    return b"%d|%s|%s" % (int(valid_until), version.encode(), body)


class AccountViews:
    """Reads (when the gate did not), fills and forgets account views."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._fill = client.register_script(_FILL_UNLESS_FORGOTTEN)

    def snapshot(self, account_id: str, names: Sequence[str]) -> ViewSnapshot:
        """One round trip: what the gate reads, for requests it did not prefetch for."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(generation_key(account_id))
        pipe.get(links_key(account_id))
        if names:
            pipe.hmget(view_key(account_id), list(names))
        generation, links, *rest = pipe.execute()
        values = rest[0] if rest else []
        return ViewSnapshot(
            account_id, generation or b"0", links, dict(zip(names, values, strict=True))
        )

    def seen(
        self, environ: Mapping[str, Any], account_id: str, names: Sequence[str]
    ) -> ViewSnapshot:
        """The snapshot the gate read for this request if it holds ``names`` of this very
        account (the caller, as the verified session says), else a fresh one."""
        found = environ.get(PREFETCHED_VIEW)
        if (
            isinstance(found, ViewSnapshot)
            and found.account_id == account_id
            and all(name in found.fields for name in names)
        ):
            return found
        return self.snapshot(account_id, names)

    def fill(self, snapshot: ViewSnapshot, values: dict[str, bytes]) -> None:
        """Store ``values`` unless the account's view was forgotten since ``snapshot``.

        A failure only costs the next request a rebuild: it is logged, never raised.
        """
        # Jittered, so views filled together (a morning's first requests) do not all expire in
        # the same second and send their accounts to the database at once.
        ttl = round(VIEW_TTL_SECONDS * random.uniform(0.8, 1))
        args: list[bytes | str | int] = [snapshot.generation, ttl]
        for name, value in values.items():
            args += [name, value]
        try:
            self._fill(
                keys=[view_key(snapshot.account_id), generation_key(snapshot.account_id)],
                args=args,
            )
        except REDIS_ERRORS:
            log.warning("could not keep an account view; the next request builds it again")


def forget(client: redis.Redis, account_ids: Iterable[str], fields: Sequence[str] = ()) -> None:
    """Drop ``fields`` of these accounts' views (the whole view when none are named).

    Call after committing the change. If Redis is unreachable the views expire within
    :data:`VIEW_TTL_SECONDS`.
    """
    pipe = client.pipeline(transaction=False)
    for account_id in account_ids:
        pipe.incr(generation_key(account_id))
        pipe.expire(generation_key(account_id), _GENERATION_TTL_SECONDS)
        if fields:
            pipe.hdel(view_key(account_id), *fields)
        else:
            pipe.delete(view_key(account_id), links_key(account_id))
    try:
        pipe.execute()
    except REDIS_ERRORS:
        log.warning("could not drop cached account views; they expire on their own")
