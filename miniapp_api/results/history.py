"""The account's history, in pages: every sampling of the people it holds, in one order.

The order is the results screen's: self first, then dependents (as the account holds them),
each person's samplings newest first (ties by tube number, so the order is total). A page
lists every resident, each with its samplings that fall on the page, so a client merges pages
by resident id and still knows everyone with no sampling at all.

The cursor names the last sampling a page showed: ``<resident id>|<sampled Unix second>|<tube
number>``, base64url. It is a position, not an offset: a result arriving between two pages
(a new sampling on top) shifts nothing, and the next page begins right after what was shown.
It reveals nothing the page did not, and a changed one only moves within the caller's own
samplings, so it is not signed.
"""

from __future__ import annotations

import base64
import binascii

from miniapp_api.errors import ValidationFailed
from miniapp_api.results.schemas import (
    HistoryOut,
    ResidentHistoryOut,
    ResultOut,
    ResultsOut,
)

_SEP = "|"


# Where a sampling sits: the person's place on the account, then (sampled Unix second, tube
# number), which runs newest first.
_Position = tuple[int, tuple[int, str]]


def _key(sampling: ResultOut) -> tuple[int, str]:
    return int(sampling.sampled_at.timestamp()), sampling.tube_no


def _after(here: _Position, cursor: _Position) -> bool:
    """Whether ``here`` comes after ``cursor`` in the order."""
    if here[0] != cursor[0]:
        return here[0] > cursor[0]
    return here[1] < cursor[1]


def encode_cursor(resident_id: str, shown: ResultOut) -> str:
    """The cursor after ``shown``, a sampling of ``resident_id``."""
    sampled, tube_no = _key(shown)
    raw = _SEP.join((resident_id, str(sampled), tube_no))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str, residents: list[str]) -> _Position:
    """The position a cursor names; 422 (the field named) if it is not one of ours, or names
    someone the account no longer holds."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        resident_id, sampled, tube_no = raw.split(_SEP)
        position = (residents.index(resident_id), (int(sampled), tube_no))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(
            "The cursor is not valid here; start again from the first page.",
            detail=[{"field": "cursor", "problem": "not a cursor of this history"}],
        ) from None
    return position


def history_page(results: ResultsOut, *, limit: int | None, cursor: str | None) -> HistoryOut:
    """The page of ``results`` (the account's screen) after ``cursor`` (from the start
    without one), of at most ``limit`` samplings (all the rest without one)."""
    people = results.residents
    after = _decode_cursor(cursor, [p.id for p in people]) if cursor is not None else None
    left = limit
    last: tuple[str, ResultOut] | None = None
    more = False
    pages: list[ResidentHistoryOut] = []
    for index, person in enumerate(people):
        samplings = ([person.latest] if person.latest else []) + person.history
        shown: list[ResultOut] = []
        # Sorted again: the read model orders by time only, a page needs a total order.
        for sampling in sorted(samplings, key=_key, reverse=True):
            if after is not None and not _after((index, _key(sampling)), after):
                continue
            if left is not None and left == 0:
                more = True
                break
            shown.append(sampling)
            last = (person.id, sampling)
            if left is not None:
                left -= 1
        pages.append(
            ResidentHistoryOut(
                id=person.id,
                relation=person.relation,
                name_masked=person.name_masked,
                samplings=shown,
            )
        )
    next_cursor = encode_cursor(*last) if more and last is not None else None
    return HistoryOut(residents=pages, next_cursor=next_cursor)
