"""The simulator page (GET /): one person through the WeChat phone and the Alipay phone."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import DATABASE_URL, REDIS_URL, PlatformKeys, app_overrides
from tests.support.ids import cn_id, with_wrong_check_digit

SCREENSHOT = "/tmp/simulator.png"
MOBILE_SCREENSHOT = "/tmp/simulator-mobile.png"
WAIT_SECONDS = 10


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05)


def by_testid(scope: WebDriver | WebElement, testid: str) -> WebElement:
    return scope.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


@dataclass
class Phone:
    """One platform's phone on the page, acting as a resident would."""

    driver: WebDriver
    platform: str

    def el(self, name: str) -> WebElement:
        return by_testid(self.driver, f"{self.platform}-{name}")

    def tap(self, name: str) -> None:
        """Tap a button and wait until the phone has finished what it started."""
        self.el(name).click()
        wait(self.driver).until(lambda _: self.el("device").get_attribute("data-busy") == "false")

    def type(self, name: str, text: str) -> None:
        field = self.el(name)
        field.clear()
        field.send_keys(text)

    def error(self) -> str:
        box = self.el("error")
        return box.text if box.is_displayed() else ""

    def ok(self, name: str) -> None:
        """Tap and insist that no error was shown."""
        self.tap(name)
        assert self.error() == "", f"{self.platform} {name}: {self.error()}"

    def login(self) -> None:
        self.ok("login")

    def bind_phone(self, number: str) -> None:
        self.type("phone", number)
        self.ok("bind-phone")

    def declare(self, name: str, id_number: str, *, expect_ok: bool = True) -> None:
        self.type("name", name)
        Select(self.el("id-type")).select_by_value("cn_id")
        self.type("id-number", id_number)
        if expect_ok:
            self.ok("declare")
        else:
            self.tap("declare")

    def add_dependent(self, name: str, id_number: str) -> None:
        self.type("dep-name", name)
        Select(self.el("dep-id-type")).select_by_value("cn_id")
        self.type("dep-id-number", id_number)
        self.ok("add-dependent")

    def self_id(self) -> str:
        return self.el("self-id").get_attribute("data-value") or ""

    def dependents(self) -> list[WebElement]:
        return self.el("me").find_elements(
            By.CSS_SELECTOR, f'[data-testid="{self.platform}-dependent-card"]'
        )


def open_page(driver: WebDriver, url: str) -> tuple[Phone, Phone]:
    driver.get(url + "/")
    return Phone(driver, "wechat"), Phone(driver, "alipay")


def save_full_page_screenshot(driver: WebDriver, path: str, width: int = 1280) -> None:
    """For a person to look at the page; the window is left at that size."""
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, int(height) + 140)  # + the browser's own chrome
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(path)


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
