"""The H5 lookup page (GET /lookup) in headless Chromium: code + ID ending → the result."""

from __future__ import annotations

import pytest
import requests
from flask import Flask
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.conftest import by_testid, console_errors, wait
from tests.support.clients import LabClient, result
from tests.support.factories import Person, make_desk, make_lab, make_person, make_tube

SCREENSHOT = "/tmp/lookup-mobile.png"
PHONE_WIDTH, PHONE_HEIGHT = 375, 812


@pytest.fixture
def person(browser_app: Flask) -> Person:
    """A person with a registration code, sampled, whose tube tested negative."""
    person = make_person(browser_app, "欧阳娜娜")
    lab = make_lab(browser_app)
    tube = make_tube(browser_app, make_desk(browser_app, lab), [person.resident])
    uploaded = LabClient(browser_app.test_client(), lab).upload([result(tube, "negative")])
    assert uploaded.status_code == 200, uploaded.get_json()
    return person


def open_lookup(driver: WebDriver, url: str) -> None:
    driver.get(url + "/lookup")
    wait(driver).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")


def look_up(driver: WebDriver, code: str, last4: str) -> WebElement:
    """Fill the form as a person would, submit, and return what was shown (result or error)."""
    for testid, text in (("lookup-code", code), ("lookup-last4", last4)):
        field = by_testid(driver, testid)
        field.clear()
        field.send_keys(text)
    by_testid(driver, "lookup-submit").click()
    result_box, error_box = by_testid(driver, "lookup-result"), by_testid(driver, "lookup-error")
    wait(driver).until(lambda _: result_box.is_displayed() or error_box.is_displayed())
    wait(driver).until(
        lambda _: by_testid(driver, "lookup-form").get_attribute("data-busy") == "false"
    )
    return result_box if result_box.is_displayed() else error_box


def horizontal_overflow(driver: WebDriver) -> int:
    """How far the page is wider than the window (0: no horizontal scrolling)."""
    overflow: int = driver.execute_script(
        "const d = document.documentElement; return d.scrollWidth - d.clientWidth;"
    )
    return overflow


@pytest.mark.browser
@pytest.mark.postgres
def test_a_resident_sees_their_result_with_code_and_id_ending(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.last4.lower())

    assert shown.get_attribute("data-testid") == "lookup-result"
    assert by_testid(driver, "lookup-name").text == "欧**娜"
    latest = by_testid(driver, "lookup-latest")
    assert latest.get_attribute("data-state") == "negative"
    assert "阴性" in latest.text
    assert "Negative" in latest.text
    page_text = driver.find_element("tag name", "body").text
    assert person.id_number not in page_text
    assert console_errors(driver) == [], "no script error, nothing blocked by the policy"


@pytest.mark.browser
@pytest.mark.postgres
def test_a_wrong_id_ending_shows_the_mismatch_message(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.wrong_last4)

    assert shown.get_attribute("data-testid") == "lookup-error"
    assert shown.get_attribute("data-code") == "not_found"
    assert "未找到匹配的结果" in shown.text
    assert "No results match" in shown.text
    assert not by_testid(driver, "lookup-result").is_displayed()
    assert by_testid(driver, "lookup-submit").is_enabled()


@pytest.mark.browser
@pytest.mark.postgres
def test_too_many_attempts_show_when_to_try_again_and_what_works_now(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    for _ in range(5):
        wrong = {"code": person.token, "id_last4": person.wrong_last4}
        assert requests.post(f"{live_app}/api/v1/lookup", json=wrong, timeout=5).status_code == 404
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.last4)

    assert shown.get_attribute("data-code") == "rate_limited"
    retry = by_testid(driver, "lookup-retry-after")
    assert retry.is_displayed()
    assert int(retry.get_attribute("data-seconds") or "0") >= 60
    assert "后再试" in retry.text
    assert "Try again in" in retry.text
    assert not by_testid(driver, "lookup-submit").is_enabled(), "no retrying before the time"
    alternatives = by_testid(driver, "lookup-alternatives")
    assert alternatives.is_displayed()
    kinds = [
        item.get_attribute("data-kind")
        for item in alternatives.find_elements("css selector", "li[data-kind]")
    ]
    assert kinds[0] == "saved_code"
    assert "push" in kinds


@pytest.mark.browser
@pytest.mark.postgres
def test_on_a_375px_wide_phone_the_form_fits_and_is_easy_to_tap(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    driver.set_window_size(PHONE_WIDTH, PHONE_HEIGHT)
    open_lookup(driver, live_app)
    assert driver.execute_script("return window.innerWidth") <= PHONE_WIDTH

    assert horizontal_overflow(driver) == 0
    width = driver.execute_script("return document.documentElement.clientWidth")
    for testid in ("lookup-code", "lookup-last4", "lookup-submit"):
        box = by_testid(driver, testid).rect
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, testid
        assert box["height"] >= 44, f"{testid} is too small to tap"

    look_up(driver, person.token, person.last4)
    assert by_testid(driver, "lookup-latest").get_attribute("data-state") == "negative"
    assert horizontal_overflow(driver) == 0
    driver.execute_script("arguments[0].scrollIntoView()", by_testid(driver, "lookup-result"))
    driver.save_screenshot(SCREENSHOT)  # for a person to look at
