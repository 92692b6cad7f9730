"""Registration codes through the API: issue, show, re-issue, images, JWKS, access, rotation.

Tokens are checked with joserfc and images with zxing-cpp, never with our own code: that is
what a scanner from another vendor would do.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from PIL import Image
from sqlalchemy import select, update

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.accountview import code_fields, forget
from miniapp_api.codes import service
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.settings import SigningKey
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

# Only QR symbols: the decoder otherwise finds an "EAN" in some random tokens' modules.
QR = zxingcpp.BarcodeFormat.QRCode

# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" for "Ed25519". The issue fixes
# "EdDSA" (what scanners' JOSE libraries accept today), so the warning is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

NO_STORE = "private, no-store"


def code_path(resident_id: str, suffix: str = "") -> str:
    return f"/api/v1/residents/{resident_id}/code{suffix}"


def declared(user: MiniProgramUser, name: str = "张三丰", id_number: str | None = None) -> str:
    """Log ``user`` in, declare a profile, return the self resident id."""
    assert user.login().status_code == 200
    response = user.declare(name, id_number or cn_id())
    assert response.status_code == 200, response.get_json()
    resident_id: str = response.get_json()["id"]
    return resident_id


def show(user: MiniProgramUser, resident_id: str) -> dict[str, Any]:
    response = user.client.get(code_path(resident_id), headers=user.auth)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == NO_STORE
    found: dict[str, Any] = response.get_json()
    return found


def verify_with_jwks(client: FlaskClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of ``token``, verified by joserfc against the served JWKS."""
    keys = KeySet.import_key_set(client.get("/api/v1/codes/keys").get_json())
    decoded = jwt.decode(token, keys, algorithms=["EdDSA"])
    JWTClaimsRegistry(exp={"essential": True}, jti={"essential": True}).validate(decoded.claims)
    return dict(decoded.header), dict(decoded.claims)


def bare(code_id: str) -> str:
    """The token's jti and the row's id behind a code id the API shows (``c_`` + it)."""
    assert code_id.startswith("c_"), code_id
    return code_id.removeprefix("c_")


def code_rows(app: Flask) -> list[RegistrationCode]:
    with app.extensions["miniapp"].db.session() as session:
        return list(session.scalars(select(RegistrationCode).order_by(RegistrationCode.id)))


def screenshot(png: bytes) -> Image.Image:
    """What a phone's photo album keeps: the image at half size, as a JPEG of quality 75."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    jpeg = io.BytesIO()
    small.save(jpeg, format="JPEG", quality=75)
    return Image.open(io.BytesIO(jpeg.getvalue()))


def qr_version(png: bytes) -> int:
    """From the image's size: (17 + 4 * version + 2 * 4 quiet modules) * 10 pixels."""
    side = Image.open(io.BytesIO(png)).width
    assert side % 10 == 0
    return (side // 10 - 8 - 17) // 4


# --- showing a code ---------------------------------------------------------------------------


def test_own_code_verifies_with_the_published_keys_and_holds_masked_data_only(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    id_number = cn_id()
    resident_id = declared(wechat_user, "张三丰", id_number)
    body = show(wechat_user, resident_id)

    base = app.extensions["miniapp"].settings.public_base_url
    assert body["png_url"] == base + code_path(resident_id, ".png")
    assert body["svg_url"] == base + code_path(resident_id, ".svg")
    assert body["name_masked"] == "张*丰"

    header, claims = verify_with_jwks(wechat_user.client, body["token"])
    assert header == {"alg": "EdDSA", "kid": "t1"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert claims == {
        "jti": bare(body["code_id"]),
        "exp": int(expires.timestamp()),
        "n": "张*丰",
    }
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    readable = json.dumps([header, claims, body], ensure_ascii=False) + body["token"]
    assert id_number not in readable
    assert "张三丰" not in readable


def test_nothing_of_the_id_number_is_on_the_code_screen(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    """Residents share screenshots of the code: the ID number (the H5 lookup's second factor)
    is in neither the code nor the answer that shows it, nor in a re-issued one."""
    id_number = cn_id()
    resident_id = declared(wechat_user, "张三丰", id_number)

    shown = show(wechat_user, resident_id)
    reissued = wechat_user.client.post(code_path(resident_id), headers=wechat_user.auth)

    assert reissued.status_code == 201
    for body in (shown, reissued.get_json()):
        assert set(body) == {
            "token",
            "code_id",
            "expires_at",
            "png_url",
            "svg_url",
            "image_url",
            "name_masked",
        }
        assert body["name_masked"] == "张*丰"


def test_showing_the_code_again_gives_the_same_token_and_stores_one_row(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    first, again = show(wechat_user, resident_id), show(wechat_user, resident_id)
    assert again == first
    rows = code_rows(app)
    assert [(r.code_id, r.revoked_at) for r in rows] == [(bare(first["code_id"]), None)]


def test_a_dependent_has_a_code_of_their_own(app: Flask, wechat_user: MiniProgramUser) -> None:
    own = declared(wechat_user)
    grandma = cn_id(birth="19480101")
    added = wechat_user.add_dependent("欧阳秀英", grandma)
    assert added.status_code == 201
    body = show(wechat_user, added.get_json()["dependent"]["id"])
    assert body["code_id"] != show(wechat_user, own)["code_id"]
    _, claims = verify_with_jwks(wechat_user.client, body["token"])
    assert claims["n"] == "欧*英"
    assert "id_last4" not in body
    assert len(code_rows(app)) == 2


def test_an_expired_code_is_replaced_when_shown(app: Flask, wechat_user: MiniProgramUser) -> None:
    resident_id = declared(wechat_user)
    old = show(wechat_user, resident_id)
    with app.extensions["miniapp"].db.session() as session, session.begin():
        session.execute(
            update(RegistrationCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    # Time passing behind the service's back: the kept code screen is valid until the expiry
    # it was issued with, so drop it as any write to codes does.
    account_id = wechat_user.token.partition(".")[0]
    forget(app.extensions["miniapp"].redis, [account_id], code_fields(resident_id))
    new = show(wechat_user, resident_id)
    assert new["code_id"] != old["code_id"]
    verify_with_jwks(wechat_user.client, new["token"])
    voided = {r.code_id: r.revoked_at for r in code_rows(app)}
    assert voided[bare(old["code_id"])] is not None
    assert voided[bare(new["code_id"])] is None


# --- re-issue -----------------------------------------------------------------------------------


def test_reissue_voids_the_previous_code(app: Flask, wechat_user: MiniProgramUser) -> None:
    resident_id = declared(wechat_user)
    old = show(wechat_user, resident_id)
    response = wechat_user.client.post(code_path(resident_id), headers=wechat_user.auth)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == NO_STORE
    new = response.get_json()
    assert new["code_id"] != old["code_id"]
    assert new["token"] != old["token"]
    assert show(wechat_user, resident_id) == new

    rows = {r.code_id: r for r in code_rows(app)}
    assert rows[bare(old["code_id"])].revoked_at is not None
    assert rows[bare(new["code_id"])].revoked_at is None


def test_reissue_without_a_previous_code_issues_one(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    response = wechat_user.client.post(code_path(resident_id), headers=wechat_user.auth)
    assert response.status_code == 201
    assert [r.code_id for r in code_rows(app)] == [bare(response.get_json()["code_id"])]


def run_together(count: int, work: Callable[[], str]) -> list[str]:
    """``work`` in ``count`` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as error:  # collected and re-raised by the test
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


def call_service(app: Flask, use_case: Any, account_id: str, resident_id: str) -> str:
    wire = app.extensions["miniapp"]
    # A re-issue drops the code screens kept in Redis for the resident's holders.
    extra = {"client": wire.redis} if use_case is service.reissue else {}
    with wire.db.session() as session:
        issued: service.IssuedCode = use_case(
            session,
            account_id,
            resident_id=resident_id,
            codes=wire.settings.codes,
            now=datetime.now(UTC),
            **extra,
        )
    return issued.claims.code_id


def test_concurrent_first_requests_share_one_code(app: Flask, wechat_user: MiniProgramUser) -> None:
    resident_id = declared(wechat_user)
    account_id = wechat_user.me()["account"]["id"]
    shown = run_together(
        6, lambda: call_service(app, service.current_code, account_id, resident_id)
    )
    assert len(set(shown)) == 1
    assert [r.code_id for r in code_rows(app)] == shown[:1]


def test_concurrent_reissues_each_void_the_one_before(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    account_id = wechat_user.me()["account"]["id"]
    first = bare(show(wechat_user, resident_id)["code_id"])
    issued = run_together(6, lambda: call_service(app, service.reissue, account_id, resident_id))
    assert len(set(issued)) == 6
    rows = code_rows(app)
    assert {r.code_id for r in rows} == {first, *issued}
    live = [r.code_id for r in rows if r.revoked_at is None]
    assert len(live) == 1
    assert live[0] in issued
    assert bare(show(wechat_user, resident_id)["code_id"]) == live[0]


# --- who may see which code ---------------------------------------------------------------------


ROUTES = [("GET", ""), ("POST", ""), ("GET", ".png"), ("GET", ".svg")]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_another_accounts_resident_is_the_same_404_as_an_unknown_one(
    app: Flask,
    wechat_user: MiniProgramUser,
    alipay_user: MiniProgramUser,
    method: str,
    suffix: str,
) -> None:
    declared(wechat_user)
    stranger = declared(alipay_user, "李四", cn_id())
    added = alipay_user.add_dependent("李秀英", cn_id(birth="19480101"))
    strangers_grandma = added.get_json()["dependent"]["id"]

    answers = [
        wechat_user.client.open(code_path(target, suffix), method=method, headers=wechat_user.auth)
        for target in (stranger, strangers_grandma, "r_AAAAAAAAAAAAAAAA")
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({(a.get_data(), a.headers["Content-Type"]) for a in answers}) == 1
    assert answers[0].get_json()["code"] == "resident_not_found"
    assert code_rows(app) == []


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_codes_need_a_session(
    client: FlaskClient, wechat_user: MiniProgramUser, method: str, suffix: str
) -> None:
    resident_id = declared(wechat_user)
    anonymous = client.open(code_path(resident_id, suffix), method=method)
    assert anonymous.status_code == 401
    assert anonymous.get_json()["code"] == "unauthorized"


# --- images -------------------------------------------------------------------------------------


def test_a_screenshot_of_the_png_decodes_and_verifies_with_another_jose_library(
    wechat_user: MiniProgramUser,
) -> None:
    id_number = cn_id()
    resident_id = declared(wechat_user, "张三丰", id_number)
    response = wechat_user.client.get(code_path(resident_id, ".png"), headers=wechat_user.auth)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == NO_STORE

    found = zxingcpp.read_barcodes(screenshot(response.data), formats=QR)
    assert [f.format for f in found] == [zxingcpp.BarcodeFormat.QRCode]
    assert found[0].ec_level == "M"
    assert qr_version(response.data) <= 10
    scanned = found[0].text
    assert scanned == show(wechat_user, resident_id)["token"]

    header, claims = verify_with_jwks(wechat_user.client, scanned)
    assert header["kid"] == "t1"
    assert claims["n"] == "张*丰"
    assert set(claims) == {"jti", "exp", "n"}


@pytest.mark.parametrize(
    "name",
    ["欧阳娜娜", "爱新觉罗·溥仪", "𠮷野家吉", "Aleksandra Wojciechowska-Kowalczyk"],
    ids=["four-cjk", "manchu-with-dot", "astral-cjk", "long-latin"],
)
def test_long_names_still_fit_version_10(wechat_user: MiniProgramUser, name: str) -> None:
    resident_id = declared(wechat_user, name)
    png = wechat_user.client.get(code_path(resident_id, ".png"), headers=wechat_user.auth).data
    assert qr_version(png) <= 10
    [found] = zxingcpp.read_barcodes(screenshot(png), formats=QR)
    _, claims = verify_with_jwks(wechat_user.client, found.text)
    assert claims["n"][0] == name[0]
    assert len(claims["n"].encode()) <= 7


def test_the_svg_is_served_privately_and_shows_the_live_code(
    wechat_user: MiniProgramUser,
) -> None:
    resident_id = declared(wechat_user)
    first = wechat_user.client.get(code_path(resident_id, ".svg"), headers=wechat_user.auth)
    assert first.status_code == 200
    assert first.mimetype == "image/svg+xml"
    assert first.headers["Cache-Control"] == NO_STORE
    assert b"<svg" in first.data
    assert b"viewBox" in first.data

    wechat_user.client.post(code_path(resident_id), headers=wechat_user.auth)
    after = wechat_user.client.get(code_path(resident_id, ".svg"), headers=wechat_user.auth)
    assert after.data != first.data


# --- keys and rotation --------------------------------------------------------------------------


def test_the_jwks_is_public_and_cacheable(client: FlaskClient) -> None:
    response = client.get("/api/v1/codes/keys")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    [key] = response.get_json()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (key["kty"], key["crv"], key["alg"], key["use"], key["kid"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
        "t1",
    )
    again = client.get("/api/v1/codes/keys", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def new_seed() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def rotated_app(
    session_app: Flask,
    platform_keys: PlatformKeys,
    emulator_server: RunningEmulator,
    postgres_url: str,
    app: Flask,
) -> Iterator[Flask]:
    """The next deployment on the same database and Redis: a new signing key "t2", the key
    after it ("t3") already published, and the old "t1" kept for verifying only."""
    old: SigningKey = session_app.extensions["miniapp"].settings.codes.signing_key
    overrides = app_overrides(platform_keys, emulator_server.base_url, postgres_url, REDIS_URL)
    overrides["SECURITY"] = dict(session_app.config["SECURITY"])
    overrides["CODES"] = {
        "SIGNING_KEYS": json.dumps(
            [{"kid": "t2", "private_key": new_seed()}, {"kid": "t3", "private_key": new_seed()}]
        ),
        "VERIFY_KEYS": json.dumps(
            [{"kid": "t1", "public_key": base64.b64encode(old.public_key).decode()}]
        ),
    }
    rotated = create_app(overrides)
    rotated.testing = True
    yield rotated
    rotated.extensions["miniapp"].db.dispose()


def test_after_a_key_rotation_the_jwks_lists_every_key_and_album_codes_stay_valid(
    app: Flask, rotated_app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    in_album = show(wechat_user, resident_id)

    rotated = MiniProgramUser(rotated_app.test_client(), wechat_user.phone, "wechat")
    rotated.token = wechat_user.token  # the session lives in Redis: it survives a deployment
    keys = rotated.client.get("/api/v1/codes/keys").get_json()["keys"]
    assert [k["kid"] for k in keys] == ["t2", "t3", "t1"]

    shown = show(rotated, resident_id)
    assert shown["code_id"] == in_album["code_id"]
    assert shown["expires_at"] == in_album["expires_at"]
    assert verify_with_jwks(rotated.client, shown["token"])[0]["kid"] == "t2"
    header, claims = verify_with_jwks(rotated.client, in_album["token"])
    assert (header["kid"], claims["jti"]) == ("t1", bare(in_album["code_id"]))

    reissued = rotated.client.post(code_path(resident_id), headers=rotated.auth).get_json()
    assert verify_with_jwks(rotated.client, reissued["token"])[0]["kid"] == "t2"
    assert {r.code_id: r.kid for r in code_rows(app)} == {
        bare(in_album["code_id"]): "t1",
        bare(reissued["code_id"]): "t2",
    }


def test_openapi_describes_the_code_routes_with_their_traffic_class(
    client: FlaskClient,
) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    found = {
        (path, method): op["x-traffic-class"]
        for path, ops in paths.items()
        for method, op in ops.items()
        if "code" in path
    }
    assert found == {
        ("/api/v1/codes/keys", "get"): "critical",
        ("/api/v1/code-images/{signed}.png", "get"): "critical",
        ("/api/v1/residents/{resident_id}/code", "get"): "critical",
        ("/api/v1/residents/{resident_id}/code", "post"): "normal",
        ("/api/v1/residents/{resident_id}/code.png", "get"): "critical",
        ("/api/v1/residents/{resident_id}/code.svg", "get"): "critical",
    }
    assert paths["/api/v1/codes/keys"]["get"]["security"] == []
    assert paths["/api/v1/residents/{resident_id}/code.png"]["get"]["security"] == [{"bearer": []}]


# --- the embedded default (SQLite) ------------------------------------------------------------


def test_codes_work_on_sqlite_where_times_come_back_naive(
    embedded_app: Flask, emulator: RunningEmulator
) -> None:
    user = MiniProgramUser(embedded_app.test_client(), EmulatorPhone(emulator.base_url), "wechat")
    resident_id = declared(user)
    first = show(user, resident_id)
    assert show(user, resident_id) == first
    _, claims = verify_with_jwks(user.client, first["token"])
    assert claims["exp"] == int(datetime.fromisoformat(first["expires_at"]).timestamp())

    reissued = user.client.post(code_path(resident_id), headers=user.auth).get_json()
    assert reissued["code_id"] != first["code_id"]
    rows = {r.code_id: r.revoked_at for r in code_rows(embedded_app)}
    assert rows[bare(first["code_id"])] is not None
    assert rows[bare(reissued["code_id"])] is None
