"""Valid, synthetic mainland ID numbers (GB 11643 check digit)."""

from __future__ import annotations

import itertools

from tests.support.sensitive import remember

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SEQ = itertools.count(100)


def cn_id(birth: str = "19900307", region: str = "310115", seq: int | None = None) -> str:
    """A fresh valid ID number; each call without ``seq`` gives another person."""
    body = f"{region}{birth}{(next(_SEQ) if seq is None else seq) % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    number = body + _CHECK[total % 11]
    remember(number)
    return number


def with_wrong_check_digit(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong
