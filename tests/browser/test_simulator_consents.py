"""The simulator's consent step: shown after login, links each document's page, agreeing
unlocks the profile; withdrawing says what it means and the code stops."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from miniapp_api.legal.documents import REQUIRED_FOR_SENSITIVE_DATA
from tests.browser.conftest import open_page
from tests.support.ids import cn_id


@pytest.mark.browser
@pytest.mark.postgres
def test_a_resident_agrees_after_login_and_withdrawing_stops_the_code(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    wechat.login(consent=False)

    step = wechat.el("consent")
    assert step.is_displayed()
    links = wechat.el("consent-documents").find_elements(By.CSS_SELECTOR, "a")
    assert [a.get_attribute("data-document") for a in links] == list(REQUIRED_FOR_SENSITIVE_DATA)
    assert [a.get_attribute("href") for a in links] == [
        f"{live_app}/legal/{name}" for name in REQUIRED_FOR_SENSITIVE_DATA
    ]
    wechat.declare("张三", cn_id(), expect_ok=False)
    assert wechat.el("error-code").text == "consent_required"
    assert wechat.self_id() == ""

    wechat.ok("agree")
    assert not step.is_displayed()
    wechat.declare("张三", cn_id())
    assert wechat.self_id()
    wechat.open_tab("code")
    wechat.ok("show-code")
    assert wechat.code_token()

    wechat.open_tab("me")
    [agreed] = [
        item
        for item in wechat.el("me").find_elements(
            By.CSS_SELECTOR, '[data-testid="wechat-consent-item"][data-active="true"]'
        )
        if item.get_attribute("data-kind") == "sensitive-data"
    ]
    wechat.within(agreed, "withdraw-consent")

    assert "注销" in wechat.notice()
    assert step.is_displayed()
    wechat.tap("tab-code")  # opening the tab loads the code, as the mini-program does
    assert wechat.el("error-code").text == "consent_required"
    assert not wechat.el("code-box").find_elements(By.CSS_SELECTOR, "img")
