"""The whole journey on the simulator page, as on `make run`.

Log in → show the code → the staff scan it into a tube → the lab posts the tube's result → the
push reaches the phone → the result is looked up, on WeChat and then, for the same person, on
Alipay. The push worker is the thread `miniapp dev` runs (the ``push_worker`` fixture), so the
test also covers how the embedded default delivers pushes: nothing here calls the worker.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import func, select

from miniapp_api.db import Database
from miniapp_api.migrate import upgrade
from miniapp_api.sampling.models import Staff
from miniapp_api.sampling.setup import close_round
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.simulator.demo import DemoOperators, ensure_demo_operators
from tests.browser.conftest import (
    Panel,
    Phone,
    console_errors,
    open_page,
    save_full_page_screenshot,
    staff_and_lab,
    wait,
)
from tests.support.ids import cn_id

PHONE_NUMBER = "13812345678"
NAME = "张三"
# The worker idles up to 0.3 s and the page polls the emulator every second.
PUSH_WAIT_SECONDS = 15


def decode_qr(png: bytes) -> str:
    """What a standard decoder (ZXing) reads from the code image."""
    found = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert len(found) == 1, f"expected one QR symbol, found {len(found)}"
    return found[0].text


def resident_ready_to_be_sampled(phone: Phone, person: str) -> None:
    """Log in, bind the phone, declare the profile, accept the result message."""
    phone.login()
    phone.bind_phone(PHONE_NUMBER)
    phone.declare(NAME, person)
    phone.open_tab("messages")
    phone.ok("subscribe")
    assert phone.el("subscription").get_attribute("data-remaining") == "1"


def scan(staff: Panel, source: str) -> str:
    """Scan the code shown on ``source``'s phone; the status of the answer."""
    staff.choose("source", source)
    staff.ok("scan")
    return staff.el("scans").find_element("css selector", "li").get_attribute("data-status") or ""


def newest_scan(staff: Panel) -> str:
    """The text of the staff's latest scan answer."""
    return staff.el("scans").find_element("css selector", "li").text


def last_screenshot(driver: WebDriver, name: str) -> None:
    save_full_page_screenshot(driver, f"/tmp/journey-{name}.png")


@pytest.mark.browser
@pytest.mark.postgres
def test_code_scan_result_push_and_lookup_on_both_platforms(
    driver: WebDriver, live_app: str, push_worker: None, demo_operators: DemoOperators
) -> None:
    person = cn_id()
    wechat, alipay = open_page(driver, live_app)
    staff, lab = staff_and_lab(driver)

    # The resident: logged in, subscribed, showing the code.
    resident_ready_to_be_sampled(wechat, person)
    wechat.open_tab("code")
    token = wechat.code_token()
    assert token.count(".") == 2, "a compact JWS"
    assert decode_qr(wechat.code_png()) == token
    assert wechat.el("code-name").text == "张*"
    # Nothing of the ID number on the screen residents screenshot (the H5 lookup's factor).
    assert not wechat.el("code").find_elements("css selector", '[data-testid$="code-last4"]')
    assert "尾号" not in wechat.el("code").text
    assert person not in wechat.el("code").text
    last_screenshot(driver, "1-code")

    # The sampling site: the demo staff member, pre-filled, scans the code into a tube.
    assert staff.el("username").get_attribute("value") == demo_operators.staff_username
    staff.ok("login")
    assert staff.el("session").get_attribute("data-state") == "in"
    staff.choose("capacity", "5")
    tube_no = staff.el("tube").get_attribute("value") or ""
    assert scan(staff, "wechat") == "bound"
    assert f"尾号 {person[-4:]}" in newest_scan(staff), "to compare with the ID card"
    assert scan(staff, "wechat") == "duplicate"
    assert "尾号" not in newest_scan(staff), "a scan binding no one shows only the code's name"
    assert demo_operators.site in staff.el("first-scan").text
    staff.ok("close-tube")
    assert staff.el("tube-status").get_attribute("data-state") == "closed"
    assert staff.el("tube-status").get_attribute("data-tube") == tube_no
    last_screenshot(driver, "2-scanned")

    # The lab: the closed tube is pre-filled; the upload is signed in the browser (WebCrypto).
    assert lab.el("tube").get_attribute("value") == tube_no
    lab.choose("result", "negative")
    lab.ok("post")
    assert lab.el("item").get_attribute("data-status") == "accepted"
    assert lab.el("summary").get_attribute("data-replayed") == "false"
    assert "POST\n/api/v1/lab/results\n" in (
        lab.el("string-to-sign").get_attribute("textContent") or ""
    )
    lab.ok("resend")  # a lab retrying the same batch gets the first answer again
    assert lab.el("summary").get_attribute("data-replayed") == "true"
    assert lab.el("item").get_attribute("data-status") == "accepted"

    # The push, as the platform received it, shows on the WeChat phone.
    wechat.open_tab("code")
    wait(driver, PUSH_WAIT_SECONDS).until(lambda _: wechat.pushes())
    assert wechat.el("push-badge").text == "1"
    wechat.open_tab("messages")
    (push,) = wechat.pushes()
    assert push.get_attribute("data-template") == "tpl-wx-result-0001"
    assert "阴性" in push.text
    assert tube_no in push.text
    assert not wechat.el("push-badge").is_displayed()
    assert alipay.pushes() == []
    last_screenshot(driver, "3-push")

    wechat.open_tab("results")
    assert wechat.result_state() == "negative"
    assert tube_no in wechat.el("results").text
    assert demo_operators.site in wechat.el("results").text
    last_screenshot(driver, "4-result")

    # The same person on Alipay: same phone, name and ID → the same resident and result.
    alipay.login()
    alipay.bind_phone(PHONE_NUMBER)
    alipay.declare(NAME, person)
    assert alipay.self_id() == wechat.self_id()
    alipay.open_tab("results")
    assert alipay.result_state() == "negative"
    assert tube_no in alipay.el("results").text
    alipay.open_tab("code")
    assert decode_qr(alipay.code_png()) == alipay.code_token()
    last_screenshot(driver, "5-alipay")
    save_full_page_screenshot(driver, "/tmp/journey-6-mobile.png", width=400)

    assert console_errors(driver) == []


@pytest.mark.browser
@pytest.mark.postgres
def test_a_reissued_code_voids_the_old_one_and_a_lab_correction_keeps_its_reason(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    staff, lab = staff_and_lab(driver)
    wechat.login()
    wechat.bind_phone(PHONE_NUMBER)
    wechat.declare(NAME, cn_id())
    wechat.open_tab("code")
    old = wechat.code_token()

    wechat.ok("reissue-code")

    new = wechat.code_token()
    assert new != old
    assert decode_qr(wechat.code_png()) == new
    staff.ok("login")
    assert scan(staff, "wechat") == "bound"
    staff.ok("close-tube")
    lab.ok("post")
    lab.ok("post")  # a second upload for the same tube is refused: corrections are explicit
    assert lab.el("item").get_attribute("data-status") == "already_final"

    lab.choose("amend-result", "positive")
    lab.type("amend-reason", "复核发现样本编号录入错误 re-checked: sample mix-up")
    lab.ok("amend")

    status = lab.el("amend-status")
    assert status.get_attribute("data-status") == "amended"
    assert "re-checked: sample mix-up" in lab.el("amend-out").text
    wechat.open_tab("results")
    # A pooled tube (10 by default) turned positive: everyone in it needs a single-tube re-test.
    assert wechat.result_state() == "retest_required"
    assert "pooled tube tested positive" in wechat.el("results").text
    last_screenshot(driver, "7-amended")


@pytest.mark.browser
@pytest.mark.postgres
def test_scanning_a_phone_without_a_code_is_explained_to_the_staff(
    driver: WebDriver, live_app: str
) -> None:
    open_page(driver, live_app)
    staff, _ = staff_and_lab(driver)
    staff.ok("login")

    staff.choose("source", "alipay")
    staff.tap("scan")

    assert staff.el("error-code").text == "no_code_shown"


def test_demo_operators_are_created_once_and_a_closed_round_is_followed_by_another(
    tmp_path: Path,
) -> None:
    """No browser: the seeding `miniapp dev` does at every start, on the embedded SQLite."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    db = Database(url, pool_size=2)
    crypto = PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))
    try:
        first = ensure_demo_operators(db, crypto)
        assert ensure_demo_operators(db, crypto) == first
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Staff)) == 1
        with db.session() as session:
            close_round(session, datetime.now(UTC))

        again = ensure_demo_operators(db, crypto)

        assert again.round == f"{first.round} 2"
        assert (again.lab_id, again.lab_secret) == (first.lab_id, first.lab_secret)
        assert again.lab_secret not in repr(again)  # kept out of logs and tracebacks
    finally:
        db.dispose()
