"""The lab signature recipe, the timestamp window and the nonce store, without a database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import fakeredis
import pytest
import redis
from sqlalchemy.orm import Session

from miniapp_api.errors import ServiceUnavailable, Unauthorized
from miniapp_api.lab import signing
from miniapp_api.sampling.models import Lab
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import LabSettings

SECRET = "lab-secret-example-0123456789"
BODY = (
    b'{"results":[{"tube_no":"T0001","result":"negative","tested_at":"2022-03-16T10:30:00+08:00"}]}'
)
NOW = datetime.fromtimestamp(1647399600, UTC)


def test_the_worked_example_of_the_docstring_holds() -> None:
    assert signing.__doc__ is not None
    signature = signing.sign(
        SECRET, "POST", "/api/v1/lab/results", "1647399600", "8f14e45fceea167a", BODY
    )
    assert signing.body_sha256(BODY) in signing.__doc__
    assert signature in signing.__doc__
    assert signature == "712b57bd0bd15cc53a2ccb1ac3553247a5eeeeca2ef070ce49e9545b7119a426"


def test_the_string_to_sign_is_the_five_parts_joined_by_newlines() -> None:
    to_sign = signing.string_to_sign("post", "/p", "12", "n0nce", b"")
    assert to_sign == "POST\n/p\n12\nn0nce\n" + hashlib.sha256(b"").hexdigest()


class OneLab:
    """A session stand-in that knows one lab (or none) and counts its queries."""

    def __init__(self, lab: Lab | None) -> None:
        self.lab, self.queries = lab, 0

    def begin(self) -> Any:
        return nullcontext()

    def scalars(self, _query: Any) -> OneLab:
        self.queries += 1
        return self

    def one_or_none(self) -> Lab | None:
        return self.lab


@pytest.fixture
def crypto() -> PersonalDataCrypto:
    return PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))


@pytest.fixture
def lab(crypto: PersonalDataCrypto) -> Lab:
    return Lab(id=1, lab_id="lab_x", name="X", secret_enc=crypto.encrypt("lab.secret", SECRET))


def signed(timestamp: str = "1647399600", **changes: str) -> signing.SignedRequest:
    fields = {
        "method": "POST",
        "path": "/api/v1/lab/results",
        "lab_id": "lab_x",
        "timestamp": timestamp,
        "nonce": "8f14e45fceea167a",
    }
    signature = signing.sign(
        SECRET, fields["method"], fields["path"], timestamp, fields["nonce"], BODY
    )
    fields = {"signature": signature, **fields, **changes}
    return signing.SignedRequest(body=BODY, **fields)


def run(
    request: signing.SignedRequest,
    session: OneLab,
    crypto: PersonalDataCrypto,
    client: redis.Redis | None = None,
) -> Lab:
    return signing.authenticate(
        cast(Session, session),
        request,
        client=client or fakeredis.FakeRedis(),
        crypto=crypto,
        settings=LabSettings(),
        now=NOW,
    )


def test_a_good_signature_names_the_lab(lab: Lab, crypto: PersonalDataCrypto) -> None:
    assert run(signed(), OneLab(lab), crypto) is lab


def test_an_upper_case_hex_signature_is_accepted(lab: Lab, crypto: PersonalDataCrypto) -> None:
    request = signed()
    assert run(signed(signature=request.signature.upper()), OneLab(lab), crypto) is lab


def test_a_stale_timestamp_is_refused_before_any_database_work(
    lab: Lab, crypto: PersonalDataCrypto
) -> None:
    session = OneLab(lab)
    with pytest.raises(Unauthorized) as refused:
        run(signed(timestamp="1647399299"), session, crypto)
    assert refused.value.code == "stale_timestamp"
    assert session.queries == 0


def test_the_nonce_is_single_use_per_lab(lab: Lab, crypto: PersonalDataCrypto) -> None:
    store = fakeredis.FakeRedis()
    run(signed(), OneLab(lab), crypto, store)
    with pytest.raises(Unauthorized) as refused:
        run(signed(), OneLab(lab), crypto, store)
    assert refused.value.code == "nonce_reused"
    [key] = store.keys("labnonce:*")
    assert key == b"labnonce:{lab_x}:8f14e45fceea167a"
    assert store.ttl(key) >= 2 * LabSettings().timestamp_tolerance_seconds


def test_without_redis_uploads_fail_closed(lab: Lab, crypto: PersonalDataCrypto) -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(ServiceUnavailable) as refused:
        run(signed(), OneLab(lab), crypto, down)
    # Answered with the overload contract (Retry-After, alternatives): miniapp_api/errors.py
    assert refused.value.code == "lab_auth_unavailable"
    assert refused.value.base_seconds > 0


@pytest.mark.parametrize(
    "bad",
    [
        {"nonce": "short"},
        {"timestamp": "1647399600.5"},
        {"signature": base64.b64encode(b"x" * 32).decode()},
        {"lab_id": ""},
    ],
)
def test_malformed_headers_are_refused(
    lab: Lab, crypto: PersonalDataCrypto, bad: dict[str, str]
) -> None:
    with pytest.raises(Unauthorized) as refused:
        run(signed(**bad), OneLab(lab), crypto)
    assert refused.value.code == "lab_signature_required"


def test_the_signature_is_an_hmac_keyed_with_the_secret_as_printed() -> None:
    expected = hmac.new(
        SECRET.encode(),
        b"GET\n/\n1\nabcdefgh\n" + hashlib.sha256(b"").hexdigest().encode(),
        hashlib.sha256,
    )
    assert signing.sign(SECRET, "GET", "/", "1", "abcdefgh", b"") == expected.hexdigest()


def rotated(lab: Lab, crypto: PersonalDataCrypto, *, until: datetime) -> Lab:
    """``lab`` after ``miniapp labs rotate-secret``: a new secret, SECRET kept until ``until``."""
    return Lab(
        id=lab.id,
        lab_id=lab.lab_id,
        name=lab.name,
        secret_enc=crypto.encrypt("lab.secret", "the-new-secret-0123456789"),
        previous_secret_enc=lab.secret_enc,
        previous_secret_until=until,
    )


def test_the_previous_secret_works_until_its_overlap_ends(
    lab: Lab, crypto: PersonalDataCrypto
) -> None:
    during = rotated(lab, crypto, until=NOW + timedelta(hours=1))
    assert run(signed(), OneLab(during), crypto) is during
    ended = rotated(lab, crypto, until=NOW)
    with pytest.raises(Unauthorized) as refused:
        run(signed(), OneLab(ended), crypto)
    assert refused.value.code == "invalid_signature"


def test_the_new_secret_works_during_the_overlap(lab: Lab, crypto: PersonalDataCrypto) -> None:
    during = rotated(lab, crypto, until=NOW + timedelta(hours=1))
    fields = signed()
    new = signing.sign(
        "the-new-secret-0123456789", "POST", fields.path, fields.timestamp, fields.nonce, BODY
    )
    assert run(signed(signature=new), OneLab(during), crypto) is during
