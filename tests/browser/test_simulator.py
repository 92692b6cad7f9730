"""The simulator page (GET /): one person through the WeChat phone and the Alipay phone."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import by_testid, open_page, save_full_page_screenshot, wait
from tests.conftest import DATABASE_URL, REDIS_URL, PlatformKeys, app_overrides
from tests.support.ids import cn_id, with_wrong_check_digit

SCREENSHOT = "/tmp/simulator.png"
MOBILE_SCREENSHOT = "/tmp/simulator-mobile.png"


@pytest.mark.browser
@pytest.mark.postgres
def test_one_person_on_both_phones_gets_one_resident_id(driver: WebDriver, live_app: str) -> None:
    person, grandmother = cn_id(), cn_id(birth="19500612")
    wechat, alipay = open_page(driver, live_app)

    wechat.login()
    wechat.bind_phone("13812345678")
    wechat.declare("张三", person)
    wechat.add_dependent("李秀英", grandmother)

    assert wechat.self_id()
    me_text = wechat.el("me").text
    assert person[:3] + "*" * 11 + person[-4:] in me_text
    assert person not in me_text
    assert grandmother not in me_text
    assert "138****5678" in me_text
    assert len(wechat.dependents()) == 1
    verdict = by_testid(driver, "same-person-verdict")
    assert verdict.get_attribute("data-state") == "pending"

    alipay.login()
    alipay.bind_phone("13812345678")
    alipay.declare("张三", person)

    assert alipay.self_id() == wechat.self_id()
    assert verdict.get_attribute("data-state") == "same"
    assert by_testid(driver, "same-person-alipay").text == wechat.self_id()
    save_full_page_screenshot(driver, SCREENSHOT)
    save_full_page_screenshot(driver, MOBILE_SCREENSHOT, width=400)

    wechat.el("remove-dependent").click()
    wait(driver).until(lambda _: not wechat.dependents())
    assert wechat.error() == ""


@pytest.mark.browser
@pytest.mark.postgres
def test_a_wrong_check_digit_is_shown_in_the_phone_that_sent_it(
    driver: WebDriver, live_app: str
) -> None:
    wechat, alipay = open_page(driver, live_app)
    wechat.login()

    wechat.declare("张三", with_wrong_check_digit(cn_id()), expect_ok=False)

    assert "invalid_id_number" in wechat.error()
    assert wechat.el("error-code").text == "invalid_id_number"
    assert alipay.error() == ""
    assert wechat.self_id() == ""


@pytest.mark.browser
@pytest.mark.postgres
def test_platform_trouble_shows_503_with_retry_after_and_passes(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    Select(by_testid(driver, "fault-preset")).select_by_visible_text(
        "微信登录限流 45011 / WeChat login throttled (45011)"
    )
    by_testid(driver, "fault-inject").click()
    status = by_testid(driver, "fault-status")
    wait(driver).until(lambda _: status.get_attribute("data-state") == "injected")

    wechat.tap("login")

    shown = wechat.error()
    assert wechat.el("error-code").text == "platform_throttled"
    assert "HTTP 503" in shown
    assert "Retry-After" in shown

    by_testid(driver, "fault-clear").click()
    wait(driver).until(lambda _: status.get_attribute("data-state") == "clear")
    wechat.login()
    assert wechat.el("account-card").is_displayed()


@pytest.mark.browser
@pytest.mark.postgres
def test_logging_in_again_is_the_same_platform_user_until_told_otherwise(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    wechat.login()
    openid = wechat.el("subject").text
    account = wechat.el("account-card").text

    wechat.ok("logout")
    driver.refresh()
    wechat.login()
    assert wechat.el("subject").text == openid
    assert wechat.el("account-card").text == account

    wechat.ok("new-person")
    wechat.login()
    assert wechat.el("subject").text != openid
    assert wechat.el("account-card").text != account


def test_a_platform_without_configuration_is_shown_disabled(platform_keys: PlatformKeys) -> None:
    """Rendered only, no browser: nothing connects (create_app does no I/O, GET / reads no data)."""
    from miniapp_api import create_app

    emulator_url = "http://127.0.0.1:9"
    overrides = app_overrides(platform_keys, emulator_url, DATABASE_URL, REDIS_URL)
    overrides["ALIPAY"] = {"APP_ID": ""}
    overrides["SIMULATOR"] = {"EMULATOR_URL": emulator_url}
    app: Flask = create_app(overrides)
    try:
        page = app.test_client().get("/").get_data(as_text=True)
    finally:
        app.extensions["miniapp"].db.dispose()

    assert 'data-testid="alipay-disabled"' in page
    assert 'data-testid="wechat-disabled"' not in page
    assert re.search(r'data-testid="alipay-device"\s+data-enabled="false"', page)
    assert re.search(r'data-testid="wechat-device"\s+data-enabled="true"', page)


def test_only_the_page_files_are_served_beside_it(platform_keys: PlatformKeys) -> None:
    """The page's scripts and style are served from templates/simulator/, nothing else there."""
    from miniapp_api import create_app

    emulator_url = "http://127.0.0.1:9"
    overrides = app_overrides(platform_keys, emulator_url, DATABASE_URL, REDIS_URL)
    overrides["SIMULATOR"] = {"EMULATOR_URL": emulator_url}
    app: Flask = create_app(overrides)
    answers: dict[str, tuple[int, str]] = {}
    try:
        client = app.test_client()
        for name in ("main.js", "simulator.css", "index.html", "..%2F..%2Fpyproject.toml"):
            with client.get(f"/simulator/{name}") as response:  # closes the file it sent
                answers[name] = (response.status_code, response.mimetype)
    finally:
        app.extensions["miniapp"].db.dispose()

    # Module scripts need a JavaScript type.
    assert answers["main.js"] == (200, "text/javascript")
    assert answers["simulator.css"] == (200, "text/css")
    assert answers["index.html"][0] == 404
    assert answers["..%2F..%2Fpyproject.toml"][0] == 404
