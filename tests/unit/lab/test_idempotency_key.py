"""The ``Idempotency-Key`` header and the request fingerprint stored with it."""

from __future__ import annotations

import pytest

from miniapp_api.errors import BadRequest
from miniapp_api.lab.idempotency import fingerprint, parse_key


def test_a_missing_key_is_refused_only_where_required() -> None:
    with pytest.raises(BadRequest):
        parse_key(None, required=True)
    assert parse_key(None, required=False) is None


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "naïve"])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_key(bad, required=False)


def test_the_fingerprint_covers_the_path_as_well_as_the_body() -> None:
    body = b'{"result":"negative"}'
    one = fingerprint("POST", "/api/v1/lab/results/T1/amend", body)
    assert one == fingerprint("post", "/api/v1/lab/results/T1/amend", body)
    assert one != fingerprint("POST", "/api/v1/lab/results/T2/amend", body)
    assert one != fingerprint("POST", "/api/v1/lab/results/T1/amend", body + b" ")
