"""The legal pages (GET /legal, /legal/<name>) in headless Chromium on a 375 px wide phone:
nothing scrolls sideways, Chinese comes before English, the audience statement is on the first
screen, and the strict policy lets the inline stylesheet apply."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from miniapp_api.legal.documents import DOCUMENTS
from tests.browser.conftest import by_testid, console_errors

PHONE_WIDTH, PHONE_HEIGHT = 375, 812
PATHS = [*(f"/legal/{name}" for name in DOCUMENTS), "/legal"]


def open_on_phone(driver: WebDriver, url: str) -> None:
    driver.set_window_size(PHONE_WIDTH, PHONE_HEIGHT)
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"
    assert driver.execute_script("return window.innerWidth") <= PHONE_WIDTH


def horizontal_overflow(driver: WebDriver) -> int:
    """How far the page is wider than the window (0: no horizontal scrolling)."""
    overflow: int = driver.execute_script(
        "const d = document.documentElement; return d.scrollWidth - d.clientWidth;"
    )
    return overflow


def zh_and_en(heading: WebElement) -> tuple[WebElement, WebElement]:
    return (
        heading.find_element(By.CSS_SELECTOR, '[lang="zh-Hans"]'),
        heading.find_element(By.CSS_SELECTOR, '[lang="en"]'),
    )


@pytest.mark.browser
@pytest.mark.parametrize("path", PATHS)
def test_on_a_375px_phone_the_page_fits_chinese_first_with_the_audience_on_top(
    driver: WebDriver, live_url: str, path: str
) -> None:
    open_on_phone(driver, live_url + path)

    assert horizontal_overflow(driver) == 0
    headings = driver.find_elements(By.CSS_SELECTOR, "h1, h2, h3")
    assert headings
    for heading in headings:
        zh, en = zh_and_en(heading)
        assert zh.text
        assert en.text
        assert zh.rect["y"] < en.rect["y"], f"{heading.text!r}: Chinese first, English below"
    audience = by_testid(driver, "audience")
    assert audience.is_displayed()
    box = audience.rect
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= driver.execute_script("return window.innerHeight"), (
        "the audience statement is seen without scrolling"
    )
    # The stylesheet applied (allowed by its hash), so the page is not the browser's default.
    assert audience.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    assert console_errors(driver) == [], "no policy violation, no failed load"
    name = path.rsplit("/", 1)[-1]
    driver.save_screenshot(f"/tmp/legal-{name}-375.png")  # for a person to look at


@pytest.mark.browser
def test_the_inventory_tables_reflow_into_cards_on_a_phone(
    driver: WebDriver, live_url: str
) -> None:
    open_on_phone(driver, live_url + "/legal/data-inventory")

    width = driver.execute_script("return document.documentElement.clientWidth")
    rows = driver.find_elements(By.CSS_SELECTOR, 'tr[data-column="residents.id_enc"]')
    assert len(rows) == 1
    row = rows[0]
    assert row.value_of_css_property("display") == "block"
    cells = row.find_elements(By.TAG_NAME, "td")
    assert len(cells) == 7
    for cell in cells:
        assert cell.rect["x"] >= 0
        assert cell.rect["x"] + cell.rect["width"] <= width
    # Each cell is labelled (the hidden header's words, from data-label).
    label = driver.execute_script(
        "return getComputedStyle(arguments[0], '::before').content", cells[0]
    )
    assert "字段" in label
    assert "Column" in label
    assert horizontal_overflow(driver) == 0


@pytest.mark.browser
def test_on_a_wide_screen_the_inventory_is_a_table(driver: WebDriver, live_url: str) -> None:
    driver.set_window_size(1400, 1000)
    driver.get(live_url + "/legal/data-inventory")

    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-column="residents.id_enc"]')
    assert row.value_of_css_property("display") == "table-row"
    assert horizontal_overflow(driver) == 0


@pytest.mark.browser
def test_the_index_leads_to_every_document(driver: WebDriver, live_url: str) -> None:
    open_on_phone(driver, live_url + "/legal")

    links = [
        a.get_attribute("href")
        for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="document"] a')
    ]
    assert links == [f"{live_url}/legal/{name}" for name in DOCUMENTS]
    driver.find_elements(By.CSS_SELECTOR, '[data-testid="document"] a')[0].click()
    assert driver.current_url == f"{live_url}/legal/privacy"
    assert by_testid(driver, "version").text.endswith(DOCUMENTS["privacy"].version)
