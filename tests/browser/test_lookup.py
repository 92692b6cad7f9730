"""The H5 lookup page (GET /lookup) in headless Chromium: code (a screenshot, or pasted) + the
full ID number → the result."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from sqlalchemy import select

from miniapp_api.codes import qr
from miniapp_api.codes.tokens import verify_code
from miniapp_api.lookup import limits
from miniapp_api.residents.models import Resident
from miniapp_api.wiring import wiring_of
from tests.browser.conftest import (
    CHROME_FLAGS,
    CHROMEDRIVER,
    by_testid,
    console_errors,
    open_page,
    wait,
)
from tests.support.clients import LabClient, result
from tests.support.factories import (
    Person,
    ago,
    make_desk,
    make_lab,
    make_person,
    make_tube,
    new_session,
)
from tests.support.ids import cn_id

SCREENSHOT = "/tmp/lookup-mobile.png"
PHONE_WIDTH, PHONE_HEIGHT = 375, 812
# A phone's screenshot: 390 x 844 points at 3 device pixels each (1170 x 2532 pixels).
SCREEN_WIDTH, SCREEN_HEIGHT, PIXEL_RATIO = 390, 844, 3
ID_NUMBER = cn_id(birth="19880214", region="310104")


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


def look_up(driver: WebDriver, code: str | None, id_number: str) -> WebElement:
    """Fill the form as a person would (``code`` None: already read from a screenshot), submit,
    and return what was shown (result or error)."""
    fields = (("lookup-code", code), ("lookup-id-number", id_number))
    for testid, text in fields:
        if text is None:
            continue
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
def test_a_resident_sees_their_result_with_the_pasted_code_and_id_number(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.id_number.lower())

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
def test_a_wrong_id_number_shows_the_mismatch_message(
    driver: WebDriver, live_app: str, person: Person
) -> None:
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.wrong_id_number)

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
        wrong = {"code": person.token, "id_number": person.wrong_id_number}
        assert requests.post(f"{live_app}/api/v1/lookup", json=wrong, timeout=5).status_code == 404
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.id_number)

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
    # Each in Chinese with its English beneath, from the one answer.
    saved_code = alternatives.find_element("css selector", "li[data-kind=saved_code]")
    assert "离线" in saved_code.text
    assert "works offline" in saved_code.find_element("css selector", ".en").text
    other = alternatives.find_element("css selector", "li[data-kind=other_platform]")
    assert "小程序" in other.text
    assert "mini-program" in other.find_element("css selector", ".en").text


@pytest.mark.browser
@pytest.mark.postgres
def test_what_to_do_about_a_positive_result_is_said_in_both_languages(
    driver: WebDriver, live_app: str, browser_app: Flask
) -> None:
    person = make_person(browser_app, "王芳")
    lab = make_lab(browser_app)
    # A tube of one: positive is the person's own result (a pooled tube asks for a re-test).
    tube = make_tube(browser_app, make_desk(browser_app, lab), [person.resident], capacity=1)
    uploaded = LabClient(browser_app.test_client(), lab).upload([result(tube, "positive")])
    assert uploaded.status_code == 200, uploaded.get_json()
    open_lookup(driver, live_app)

    look_up(driver, person.token, person.id_number)

    latest = by_testid(driver, "lookup-latest")
    assert latest.get_attribute("data-state") == "positive"
    guidance = latest.find_element("css selector", ".guidance")
    assert "请留在原地" in guidance.text
    assert "Stay where you are" in guidance.find_element("css selector", ".en").text


@pytest.mark.browser
@pytest.mark.postgres
def test_an_overdue_result_names_the_hours_and_the_site_in_both_languages(
    driver: WebDriver, live_app: str, browser_app: Flask
) -> None:
    hours = wiring_of(browser_app).settings.results.overdue_hours
    person = make_person(browser_app, "张伟")
    desk = make_desk(browser_app, make_lab(browser_app))
    make_tube(browser_app, desk, [person.resident], scanned_at=ago(hours=hours + 3))
    open_lookup(driver, live_app)

    look_up(driver, person.token, person.id_number)

    latest = by_testid(driver, "lookup-latest")
    assert latest.get_attribute("data-state") == "pending"
    guidance = latest.find_element("css selector", ".guidance")
    english = guidance.find_element("css selector", ".en").text
    assert f"超过 {hours} 小时仍无结果" in guidance.text
    assert f"more than {hours} hours after sampling" in english
    assert f"({desk.site_name})" in english, "the site where the sample was taken"
    assert "{site}" not in guidance.text


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
    for testid in ("lookup-shot-button", "lookup-code", "lookup-id-number", "lookup-submit"):
        box = by_testid(driver, testid).rect
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, testid
        assert box["height"] >= 44, f"{testid} is too small to tap"

    look_up(driver, person.token, person.id_number)
    assert by_testid(driver, "lookup-latest").get_attribute("data-state") == "negative"
    assert horizontal_overflow(driver) == 0
    driver.execute_script("arguments[0].scrollIntoView()", by_testid(driver, "lookup-result"))
    driver.save_screenshot(SCREENSHOT)  # for a person to look at


# --- a screenshot of the code, as residents share it ---------------------------------------------


def phone_screenshot_of_the_code(driver: WebDriver, live_app: str, path: Path) -> tuple[str, str]:
    """A resident declares themselves on the simulator and screenshots its code screen, at a
    phone's size and pixel ratio; the token it shows and the resident's public id."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": SCREEN_WIDTH,
            "height": SCREEN_HEIGHT,
            "deviceScaleFactor": PIXEL_RATIO,
            "mobile": True,
        },
    )
    wechat, _ = open_page(driver, live_app)
    wechat.login()
    wechat.bind_phone("13812345678")
    wechat.declare("欧阳娜娜", ID_NUMBER)
    wechat.open_tab("code")
    code = wechat.el("code")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", code)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return wechat.code_token(), wechat.self_id()


def sampled_negative(app: Flask, public_id: str) -> None:
    with new_session(app) as session:
        resident = session.scalars(select(Resident).where(Resident.public_id == public_id)).one()
    lab = make_lab(app)
    tube = make_tube(app, make_desk(app, lab), [resident])
    uploaded = LabClient(app.test_client(), lab).upload([result(tube, "negative")])
    assert uploaded.status_code == 200, uploaded.get_json()


@pytest.mark.browser
@pytest.mark.postgres
def test_a_screenshot_of_the_code_and_the_id_number_show_the_result(
    driver: WebDriver, live_app: str, browser_app: Flask, tmp_path: Path
) -> None:
    shot = tmp_path / "screenshot.png"
    token, public_id = phone_screenshot_of_the_code(driver, live_app, shot)
    sampled_negative(browser_app, public_id)
    driver.set_window_size(PHONE_WIDTH, PHONE_HEIGHT)
    open_lookup(driver, live_app)

    by_testid(driver, "lookup-shot").send_keys(str(shot))

    status = by_testid(driver, "lookup-code-status")
    wait(driver).until(lambda _: status.get_attribute("data-state") in {"decoded", "failed"})
    assert status.get_attribute("data-state") == "decoded", status.text
    assert "欧*娜" in status.text
    assert by_testid(driver, "lookup-code").get_attribute("value") == token
    shown = look_up(driver, None, ID_NUMBER)
    assert shown.get_attribute("data-testid") == "lookup-result"
    assert by_testid(driver, "lookup-latest").get_attribute("data-state") == "negative"
    assert console_errors(driver) == [], "the decoder loaded, nothing blocked by the policy"


@pytest.mark.browser
@pytest.mark.postgres
def test_a_picture_without_a_code_says_so(driver: WebDriver, live_app: str, tmp_path: Path) -> None:
    open_lookup(driver, live_app)
    blank = tmp_path / "blank.png"
    driver.save_screenshot(str(blank))  # the page itself: no QR symbol on it

    by_testid(driver, "lookup-shot").send_keys(str(blank))

    status = by_testid(driver, "lookup-code-status")
    wait(driver).until(lambda _: status.get_attribute("data-state") == "failed")
    assert "未找到二维码" in status.text
    assert "No QR code found" in status.text
    assert by_testid(driver, "lookup-code").get_attribute("value") == ""


@pytest.mark.browser
@pytest.mark.postgres
def test_a_locked_code_names_the_mini_program(
    driver: WebDriver,
    live_app: str,
    browser_app: Flask,
    person: Person,
    redis_client: redis.Redis,
) -> None:
    keys = wiring_of(browser_app).settings.codes.keys
    code_id = verify_code(person.token, keys, datetime.now(UTC)).code_id
    for _ in range(limits.LIFETIME_FAILURES):
        redis_client.delete(limits.code_key(code_id))
        wrong = {"code": person.token, "id_number": person.wrong_id_number}
        assert requests.post(f"{live_app}/api/v1/lookup", json=wrong, timeout=5).status_code == 404
    redis_client.delete(limits.code_key(code_id))
    open_lookup(driver, live_app)

    shown = look_up(driver, person.token, person.id_number)

    assert shown.get_attribute("data-code") == "lookup_locked"
    assert "小程序" in shown.text
    assert "mini-program" in shown.text
    assert by_testid(driver, "lookup-submit").is_enabled()


# --- the camera -------------------------------------------------------------------------------


@pytest.fixture
def camera_pointed_at(person: Person, tmp_path: Path) -> Path:
    """A video of the person's code held in front of the camera (MJPEG: JPEG frames, one after
    the other), for Chromium's fake capture device."""
    code = Image.open(io.BytesIO(qr.png(person.token))).convert("RGB")
    video = tmp_path / "camera.mjpeg"
    with video.open("wb") as out:
        for shift in range(0, 20, 2):  # a hand is never still
            frame = Image.new("RGB", (640, 480), (96, 104, 100))
            frame.paste(code.resize((400, 400)), (120 + shift, 40 + shift // 2))
            buffer = io.BytesIO()
            frame.save(buffer, "JPEG", quality=85)
            out.write(buffer.getvalue())
    return video


@pytest.fixture
def camera_driver(chromium: Path, tmp_path: Path, camera_pointed_at: Path) -> Iterator[WebDriver]:
    """Headless Chromium whose camera films ``camera_pointed_at``, permission granted."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        *CHROME_FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_pointed_at}",
        f"--user-data-dir={tmp_path / 'camera-profile'}",
        f"--window-size={PHONE_WIDTH},{PHONE_HEIGHT}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    browser.set_page_load_timeout(15)
    yield browser
    browser.quit()


@pytest.mark.browser
@pytest.mark.postgres
def test_the_camera_reads_the_code(live_app: str, camera_driver: WebDriver, person: Person) -> None:
    # live_app first: it empties Redis, which must happen before the person's result is cached.
    open_lookup(camera_driver, live_app)
    camera = by_testid(camera_driver, "lookup-camera")
    assert camera.is_displayed(), "loopback is a secure context: the camera is offered"

    camera.click()

    status = by_testid(camera_driver, "lookup-code-status")
    wait(camera_driver, 20).until(lambda _: status.get_attribute("data-state") != "reading")
    assert status.get_attribute("data-state") == "decoded", status.text
    assert by_testid(camera_driver, "lookup-code").get_attribute("value") == person.token
    assert not by_testid(camera_driver, "lookup-camera-box").is_displayed(), "camera stopped"
    shown = look_up(camera_driver, None, person.id_number)
    assert by_testid(camera_driver, "lookup-latest").get_attribute("data-state") == "negative"
    assert shown.get_attribute("data-testid") == "lookup-result"
    assert console_errors(camera_driver) == []
