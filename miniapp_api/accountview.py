"""An account's hot screens, ready to send, kept in Redis in the account's own slot.

On a bad morning almost every request is "show my result" or "show my code". Both answers
depend on one account only, change rarely (a result arrives, a code is re-issued) and are read
again and again while people wait in line. So the answer itself is kept, already encoded:

    view:{<account id>}   a hash
      results             "<valid until>|<version>|<tag>|<JSON body of GET /api/v1/results>"
      results@en          the same in English (``Accept-Language``; guidance is worded)
      code:<resident>     "<valid until>|<version>|<tag>|<JSON body of GET .../<resident>/code>"
      png:<resident>      "<valid until>|<version>|<tag>|<PNG of that code>"   (svg: likewise)

``<valid until>`` is a Unix second after which the body would be wrong even if nothing changed:
a code's expiry, or the moment a pending result turns overdue. ``<version>`` is what else the
body was made with that a deployment can change (a code screen: the signing key's id, so a
key rotation re-signs at once); a body of another version is not used. ``<tag>`` is the
body's entity tag (:func:`entity_tag`: a hash of the body, computed once when it is kept), so
the gate answers ``If-None-Match`` with a 304 by comparing strings, never hashing per request.

The key shares the ``{account id}`` hash tag with the caller's session, quota and links copy
(``sessions.py``, ``residents/holdings.py``), so the admission gate reads all of them with ONE
single-slot script in its one pipeline (``admission/prefetch.py``), and a hot route whose field
is there answers with no other round trip, no database and no model building.

Correctness rests on two rules, the same as the links copy's:

* **Whoever changes what a field shows calls :func:`forget` after the commit** for every
  account holding the resident concerned: links changes drop the whole view, a re-issued code
  drops that resident's code and images, and the results read model drops ``results`` for the
  accounts that built it from the residents written (``readmodel.py``, "watchers").
  Dropping a field drops it in every language (``results`` drops ``results@en`` too).
  ``forget`` also moves the account's generation (``links:{<account id>}:generation``), if
  it has one.
* **A fill is written only if the generation it saw before reading is still there, unmoved**
  (:data:`_FILL_UNLESS_FORGOTTEN`), so a change racing with a fill cannot put the old answer
  back; and the hash expires at most :data:`VIEW_TTL_SECONDS` after its FIRST fill
  (``EXPIRE ... NX``, Redis >= 7.0; later fills do not extend it), so a change whose
  ``forget`` Redis missed is outlived by at most that.

A generation exists only for an account being read: whoever reads the slot for a fill
(:data:`GENERATION_FUNCTION`, in the gate's script and in :meth:`AccountViews.snapshot`)
creates it when it is missing, with a value no earlier generation of the account had (the
Redis clock in microseconds), for :data:`_GENERATION_TTL_SECONDS`. So a fill in flight always
has a generation for ``forget`` to move, and ``forget`` for the many accounts nobody is
reading (most holders of a morning's results) writes nothing: it only deletes. A generation
that expires under a fill is re-created with another value, or not at all: the fill is refused
either way.

The bodies hold what the screens show anyway (masked names, results, the code token that the
QR symbol carries); never the session, an ID number or a phone number.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any

import redis

from miniapp_api.messages.language import CONTENT_LANGUAGE, DEFAULT, LANGUAGES, Language
from miniapp_api.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

VIEW_TTL_SECONDS = 120
# The WSGI environ key under which the admission gate leaves the ViewSnapshot it read.
PREFETCHED_VIEW = "miniapp.prefetched_view"
# A generation only has to outlive the fills in flight (a fill reads it, then Redis and the
# database, then writes): minutes. Its lifetime is not extended; the next read after it
# expires makes a new one.
_GENERATION_TTL_SECONDS = 300
_SEP = b"|"

# The account's generation, made if missing (see the module's docstring). Lua, for the
# scripts that read an account's slot before a fill (here and ``admission/prefetch.py``).
GENERATION_FUNCTION = f"""
local function current_generation(key)
  local generation = redis.call('GET', key)
  if not generation then
    local now = redis.call('TIME')
    generation = now[1] .. string.format('%06d', now[2])
    redis.call('SET', key, generation, 'EX', {_GENERATION_TTL_SECONDS})
  end
  return generation
end
"""

# KEYS: generation, links, view; ARGV: the view fields wanted.
# Returns {generation, links or false, {field values}}.
_SNAPSHOT = (
    GENERATION_FUNCTION
    + """
local fields = {}
if #ARGV > 0 then
  fields = redis.call('HMGET', KEYS[3], unpack(ARGV))
end
return {current_generation(KEYS[1]), redis.call('GET', KEYS[2]) or false, fields}
"""
)

# KEYS: view, generation; ARGV: generation seen before reading, TTL, then field, value, ...
_FILL_UNLESS_FORGOTTEN = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
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
# Sent with every answer (``headers.py`` for Flask's, :meth:`KeptScreen.headers` for the gate's).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


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
    # A screen with words: kept once per language, this one's. The default language's
    # field is ``field``, another's ``field@<language>`` (:meth:`in_`). None: no words.
    language: Language | None = None

    def field_for(self, arguments: Mapping[str, Any]) -> str:
        name = self.field.format_map(arguments)
        if self.language is None or self.language == DEFAULT:
            return name
        return f"{name}@{self.language}"

    def in_(self, language: Language) -> KeptScreen:
        """This screen as kept for ``language`` (itself when it has no words)."""
        if self.language is None or self.language == language:
            return self
        return _in_language(self, language)

    def version(self, signing_kid: str) -> str:
        return signing_kid if self.signed else ""

    def headers(self) -> Mapping[str, str]:
        """The headers besides the content type and length (made once; not to be changed)."""
        return self._headers

    def unchanged_headers(self) -> Mapping[str, str]:
        """The headers of a 304: without ``Content-Language``, which describes a body (RFC
        9110, 15.4.5; Werkzeug drops it from Flask's 304s likewise)."""
        return self._unchanged_headers

    @cached_property
    def _headers(self) -> dict[str, str]:
        headers = {"Cache-Control": NO_STORE, **SECURITY_HEADERS}
        if self.filename:
            headers["Content-Disposition"] = f"inline; filename={self.filename}"
        if self.language is not None:
            headers["Content-Language"] = CONTENT_LANGUAGE[self.language]
            headers["Vary"] = "Accept-Language"
        return headers

    @cached_property
    def _unchanged_headers(self) -> dict[str, str]:
        return {k: v for k, v in self._headers.items() if k != "Content-Language"}


@cache
def _in_language(screen: KeptScreen, language: Language) -> KeptScreen:
    # Made once per (screen, language): the gate asks for it on every request.
    return replace(screen, language=language)


# The kept screens, declared once: the routes name them (``@operation(kept=...)``) and the
# writers that make them stale drop their fields (:func:`code_fields`, ``RESULTS_SCREEN.field``).
RESULTS_SCREEN = KeptScreen("results", "application/json", language=DEFAULT)
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
        found = self.kept(name, now, version)
        return None if found is None else found[0]

    def kept(self, name: str, now: float, version: str = "") -> tuple[bytes, str] | None:
        """The kept body of ``name`` and its entity tag (as the ``ETag`` header sends it), if
        it is there, of ``version``, and still valid at Unix time ``now``."""
        stored = self.fields.get(name)
        if not stored:
            return None
        until, _, rest = stored.partition(_SEP)
        made_with, sep, rest = rest.partition(_SEP)
        if not sep or not until.isdigit() or now >= int(until) or made_with != version.encode():
            return None
        tag, sep, body = rest.partition(_SEP)
        # A value kept before tags were (``<until>|<version>|<body>``) has its body here, which
        # never starts with a letter or digit (JSON, PNG, SVG): it is rebuilt, not misread.
        if not sep or len(tag) != _TAG_CHARS or not tag.isalnum():
            return None
        return body, f'"{tag.decode("ascii")}"'


# Entity tags: 96 bits of BLAKE2b over the body, in hex. Strong tags: each names these very
# bytes, which the gate and the view send alike (a proxy that compresses them weakens them).
_TAG_BYTES = 12
_TAG_CHARS = 2 * _TAG_BYTES


def entity_tag(body: bytes) -> str:
    """The ``ETag`` of ``body`` (quoted)."""
    return f'"{hashlib.blake2b(body, digest_size=_TAG_BYTES).hexdigest()}"'


def encode(body: bytes, valid_until: float, version: str = "", tag: str | None = None) -> bytes:
    """A field's value: ``body``, valid until Unix time ``valid_until``, made with ``version``
    (no ``|`` in it), with its entity ``tag`` (:func:`entity_tag`; hashed here if not given:
    once per fill, never per read)."""
    bare = (tag or entity_tag(body)).strip('"').encode("ascii")
    return b"%d|%s|%s|%s" % (int(valid_until), version.encode(), bare, body)


def not_modified(if_none_match: str, tag: str) -> bool:
    """Whether an ``If-None-Match`` header value matches ``tag`` (quoted): ``*``, or a list
    of tags compared weakly (RFC 9110, 13.1.2: a ``W/`` tag matches its strong twin)."""
    if not if_none_match:
        return False
    if tag not in if_none_match:  # the usual miss: one substring search
        return if_none_match.strip() == "*"
    return any(
        candidate.strip().removeprefix("W/") == tag for candidate in if_none_match.split(",")
    )


class AccountViews:
    """Reads (when the gate did not), fills and forgets account views."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._fill = client.register_script(_FILL_UNLESS_FORGOTTEN)
        self._snapshot = client.register_script(_SNAPSHOT)

    def snapshot(self, account_id: str, names: Sequence[str]) -> ViewSnapshot:
        """One round trip: what the gate reads, for requests it did not prefetch for."""
        keys = [generation_key(account_id), links_key(account_id), view_key(account_id)]
        generation, links, values = self._snapshot(keys=keys, args=list(names))
        return ViewSnapshot(
            account_id, generation, links or None, dict(zip(names, values, strict=True))
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


def every_language(fields: Sequence[str]) -> list[str]:
    """``fields`` and their twins in the other languages (:meth:`KeptScreen.in_`): a screen
    that is dropped is dropped in every language. Fields without words have no twins to
    find, which costs an HDEL argument each."""
    others = [f"@{language}" for language in LANGUAGES if language != DEFAULT]
    return [*fields, *(f"{name}{suffix}" for name in fields for suffix in others)]


# KEYS: (generation, view, links) of each account; ARGV: the view fields to drop (none: the
# whole view and the links copy). A generation is moved only where one exists.
_FORGET = """
for i = 1, #KEYS, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCR', KEYS[i])
  end
  if #ARGV > 0 then
    redis.call('HDEL', KEYS[i + 1], unpack(ARGV))
  else
    redis.call('DEL', KEYS[i + 1], KEYS[i + 2])
  end
end
return 0
"""
_FORGET_SHA = hashlib.sha1(_FORGET.encode(), usedforsecurity=False).hexdigest()
# Accounts per script call on a standalone Redis (a cluster: one call per account, one slot).
_FORGET_CHUNK = 1000


def forget(client: redis.Redis, account_ids: Iterable[str], fields: Sequence[str] = ()) -> None:
    """Drop ``fields`` of these accounts' views (the whole view and the links copy when none
    are named), and move the generations of those being read. One round trip; nothing is
    written for an account that has neither view nor generation.

    Call after committing the change. If Redis is unreachable the views expire within
    :data:`VIEW_TTL_SECONDS`.
    """
    keys = [
        key
        for account_id in account_ids
        for key in (generation_key(account_id), view_key(account_id), links_key(account_id))
    ]
    if not keys:
        return
    fields = every_language(fields)
    step = 3 if isinstance(client, redis.RedisCluster) else 3 * _FORGET_CHUNK
    try:
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(keys), step):
                chunk = keys[start : start + step]
                # As a raw command: redis-py's cluster pipeline refuses evalsha() by name,
                # though it routes the command by its keys (one slot here).
                command = ("EVALSHA", _FORGET_SHA, len(chunk), *chunk, *fields)
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            try:
                pipe.execute()
                return
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                client.script_load(_FORGET)  # every primary, on a cluster
    except REDIS_ERRORS:
        log.warning("could not drop cached account views; they expire on their own")
