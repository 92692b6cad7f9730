"""The simulator's "log in as reviewer" button (review mode, the demo reviewer of `make run`):
the sandbox's people, every result state and a code, after the consent step a reviewer sees too.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import open_page, wait


@pytest.mark.browser
@pytest.mark.postgres
def test_a_reviewer_logs_in_from_the_page_and_sees_every_state(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    assert "14" in wechat.el("audience").text  # who the service is for, before login
    wechat.ok("review-login")
    assert "审核员" in wechat.notice()
    assert wechat.el("consent").is_displayed()  # a fresh sandbox has agreed to nothing
    wechat.ok("agree")
    assert wechat.self_id()

    wechat.open_tab("results")
    wait(driver).until(lambda _: wechat.el("results").get_attribute("data-loaded") == "true")
    cards = wechat.el("results").find_elements(
        By.CSS_SELECTOR, '[data-testid="wechat-result-card"]'
    )
    assert [c.get_attribute("data-state") for c in cards] == ["negative", "pending", "pending"]
    assert (
        len(
            wechat.el("results").find_elements(
                By.CSS_SELECTOR, '[data-testid="wechat-result-overdue"]'
            )
        )
        == 1
    )

    wechat.open_tab("code")
    wechat.ok("show-code")
    assert wechat.code_token()
    assert wechat.code_png().startswith(b"\x89PNG")
