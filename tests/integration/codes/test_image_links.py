"""The code's signed image link (``image_url``), for ``<image src>``, which sends no headers."""

from __future__ import annotations

import io
import time
from urllib.parse import urlsplit

import zxingcpp
from flask import Flask
from PIL import Image

from miniapp_api.accountview import VIEW_TTL_SECONDS
from miniapp_api.codes import image_links
from tests.integration.codes.test_codes_api import QR, code_path, declared, show
from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser


def path_of(url: str) -> str:
    return urlsplit(url).path


def signed_part(url: str) -> str:
    """``<resident>.<code>.<expiry>.<mac>`` of an image link."""
    name = path_of(url).rsplit("/", 1)[1]
    assert name.endswith(".png")
    return name.removesuffix(".png")


def link(signed: str) -> str:
    return f"/api/v1/code-images/{signed}.png"


def decoded(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=QR)
    assert len(found) == 1
    return found[0].text


def test_the_image_link_needs_no_session_and_serves_the_same_png(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    body = show(wechat_user, resident_id)
    base = app.extensions["miniapp"].settings.public_base_url
    assert body["image_url"].startswith(base + "/api/v1/code-images/")

    anonymous = app.test_client()  # no cookie, no Authorization
    response = anonymous.get(path_of(body["image_url"]))

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "private, no-store"
    with_session = wechat_user.client.get(code_path(resident_id, ".png"), headers=wechat_user.auth)
    assert response.get_data() == with_session.get_data()
    assert decoded(response.get_data()) == body["token"]


def test_a_lapsed_link_is_gone(app: Flask, wechat_user: MiniProgramUser) -> None:
    resident_id = declared(wechat_user)
    code_id = signed_part(show(wechat_user, resident_id)["image_url"]).split(".")[1]
    codes = app.extensions["miniapp"].settings.codes
    # Made as a code body built 20 minutes ago would have made it.
    old = image_links.sign(codes, resident_id=resident_id, code_id=code_id, now=time.time() - 1200)

    response = app.test_client().get(link(old))

    assert response.status_code == 410
    assert response.get_json()["code"] == "code_image_link_expired"


def test_a_tampered_link_is_not_found(app: Flask, wechat_user: MiniProgramUser) -> None:
    resident_id = declared(wechat_user)
    resident, code_id, expires, mac = signed_part(
        show(wechat_user, resident_id)["image_url"]
    ).split(".")
    other_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    later = str(int(expires) + 3600)  # a longer life under the same MAC
    anonymous = app.test_client()

    for forged in (
        f"{resident}.{code_id}.{expires}.{other_mac}",
        f"{resident}.{code_id}.{later}.{mac}",
        f"{resident}.{code_id}.{expires}",
        "not-a-link",
    ):
        response = anonymous.get(link(forged))
        assert response.status_code == 404, forged
        assert response.get_json()["code"] == "not_found"


def test_my_signature_does_not_open_another_residents_code(
    app: Flask, wechat_user: MiniProgramUser, alipay_user: MiniProgramUser
) -> None:
    mine = declared(wechat_user, "张三丰", cn_id())
    theirs = declared(alipay_user, "李四", cn_id())
    their_code = signed_part(show(alipay_user, theirs)["image_url"]).split(".")[1]
    _, my_code, expires, mac = signed_part(show(wechat_user, mine)["image_url"]).split(".")
    anonymous = app.test_client()

    swapped_resident = anonymous.get(link(f"{theirs}.{my_code}.{expires}.{mac}"))
    swapped_both = anonymous.get(link(f"{theirs}.{their_code}.{expires}.{mac}"))
    nobody = anonymous.get(link(f"r_{'x' * 16}.{my_code}.{expires}.{mac}"))

    # The same answer whether or not the resident exists: a refusal says nothing of whose.
    for response in (swapped_resident, swapped_both, nobody):
        assert response.status_code == 404
        assert response.get_json() == nobody.get_json()


def test_a_reissue_voids_the_old_link_and_hands_out_a_new_one(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    resident_id = declared(wechat_user)
    old = show(wechat_user, resident_id)
    reissued = wechat_user.client.post(code_path(resident_id), headers=wechat_user.auth)
    assert reissued.status_code == 201
    new = reissued.get_json()
    anonymous = app.test_client()

    assert new["image_url"] != old["image_url"]
    assert anonymous.get(path_of(old["image_url"])).status_code == 410
    fresh = anonymous.get(path_of(new["image_url"]))
    assert fresh.status_code == 200
    assert decoded(fresh.get_data()) == new["token"]


def test_a_link_lives_ten_to_fifteen_minutes_and_outlives_a_kept_code_body() -> None:
    for now in (0.0, 1.0, 299.5, 300.0, 1_700_000_123.4):
        assert 600 <= image_links.expiry(now) - now < 900
        assert image_links.expiry(now) % 300 == 0
    # A code body kept in the account view never hands out a link about to lapse.
    assert VIEW_TTL_SECONDS * 2 <= image_links.LINK_SECONDS
