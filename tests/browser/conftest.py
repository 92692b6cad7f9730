"""The real app and emulator on loopback, driven by Debian's headless Chromium.

The app is served by werkzeug in a thread on PostgreSQL, Redis and the emulator from
``tests/conftest.py``; the page calls our API (same origin) and the emulator's controls (CORS).
Every test starts with the demo operators ``miniapp dev`` seeds (a round, a site, its lab, a
staff member); the ``push_worker`` fixture runs the same push-worker thread as ``miniapp dev``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from werkzeug.serving import make_server

from channels.emulator import RunningEmulator
from miniapp_api.devserver import start_push_worker
from miniapp_api.review.accounts import DEMO_PASSWORD, DEMO_REVIEWER
from miniapp_api.security.passwords import HASHER
from miniapp_api.simulator.demo import DEMO_EXTENSION_KEY, DemoOperators, ensure_demo_operators
from miniapp_api.wiring import EXTENSION_KEY, Wiring
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides, empty_tables

CHROMIUM = Path("/usr/bin/chromium")
DEMO_REVIEWER_ENTRY = {"name": DEMO_REVIEWER, "password_hash": HASHER.hash(DEMO_PASSWORD)}
# The worker's pause between empty batches: shorter than `miniapp dev`'s second, to keep the
# tests quick; the page polls the emulator every second either way.
PUSH_IDLE_SECONDS = 0.2
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; the browser tests skip without it."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_app(
    platform_keys: PlatformKeys, emulator_server: RunningEmulator, postgres_url: str
) -> Iterator[Flask]:
    """The app with the simulator page switched on, pointing at the shared emulator."""
    from miniapp_api import create_app

    overrides = app_overrides(platform_keys, emulator_server.base_url, postgres_url, REDIS_URL)
    overrides["SIMULATOR"] = {"EMULATOR_URL": emulator_server.base_url}
    # Review mode on with the documented demo reviewer, as `make run` has it.
    overrides["REVIEW"] = {"ENABLED": True, "ACCOUNTS": [DEMO_REVIEWER_ENTRY]}
    app = create_app(overrides)
    yield app
    app.extensions["miniapp"].db.dispose()
    app.extensions["miniapp"].redis.close()  # else a socket left to the collector warns


@pytest.fixture(scope="session")
def live_url(chromium: Path, browser_app: Flask, emulator_server: RunningEmulator) -> Iterator[str]:
    """Serve the app on a free loopback port for the whole run; the page's base URL."""
    preflight = requests.options(
        f"{emulator_server.base_url}/_emulator/wechat/login",
        headers={"Origin": "http://127.0.0.1", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    if preflight.headers.get("Access-Control-Allow-Origin") != "*":
        pytest.fail(
            "the emulator does not allow the page's cross-origin calls: "
            "channels/emulator/app.py must call cors.allow_cross_origin(app)"
        )
    server = make_server("127.0.0.1", 0, browser_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def demo_operators(browser_app: Flask) -> DemoOperators:
    """The demo round, site, lab and staff member, as `miniapp dev` seeds them."""
    wire = browser_app.extensions[EXTENSION_KEY]
    assert isinstance(wire, Wiring)
    demo = ensure_demo_operators(wire.db, wire.crypto)
    browser_app.extensions[DEMO_EXTENSION_KEY] = demo  # what the page pre-fills
    return demo


@pytest.fixture
def live_app(
    live_url: str,
    browser_app: Flask,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
    demo_operators: DemoOperators,
) -> Iterator[str]:
    """The served app with a reset emulator, empty Redis and the demo operators; tables
    emptied afterwards."""
    yield live_url
    empty_tables(browser_app)


@pytest.fixture
def push_worker(live_app: str, browser_app: Flask) -> Iterator[None]:
    """The push worker thread of `miniapp dev`, on the served app; stopped before the tables
    are emptied."""
    worker = start_push_worker(browser_app, idle_seconds=PUSH_IDLE_SECONDS)
    yield
    worker.stop()
    assert not worker.thread.is_alive(), "the push worker did not stop"


@pytest.fixture
def driver(chromium: Path, tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (own profile, so empty localStorage) per test."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for console_errors()
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    browser.set_page_load_timeout(15)
    yield browser
    browser.quit()


# --- the page, as a person uses it -------------------------------------------------------------

WAIT_SECONDS = 10


def wait(driver: WebDriver, seconds: float = WAIT_SECONDS) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds, poll_frequency=0.05)


def by_testid(scope: WebDriver | WebElement, testid: str) -> WebElement:
    return scope.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


@dataclass
class Panel:
    """A part of the page that runs one action at a time and says so in ``data-busy``."""

    driver: WebDriver
    name: str  # the data-testid prefix: "wechat", "alipay", "staff", "lab"
    root: str  # the data-testid of the element carrying data-busy

    def el(self, name: str) -> WebElement:
        return by_testid(self.driver, f"{self.name}-{name}")

    def tap(self, name: str) -> None:
        """Tap a button and wait until what it started has finished."""
        self.el(name).click()
        busy = by_testid(self.driver, self.root)
        wait(self.driver).until(lambda _: busy.get_attribute("data-busy") == "false")

    def type(self, name: str, text: str) -> None:
        field = self.el(name)
        field.clear()
        field.send_keys(text)

    def choose(self, name: str, value: str) -> None:
        Select(self.el(name)).select_by_value(value)

    def error(self) -> str:
        box = self.el("error")
        return box.text if box.is_displayed() else ""

    def ok(self, name: str) -> None:
        """Tap and insist that no error was shown."""
        self.tap(name)
        assert self.error() == "", f"{self.name} {name}: {self.error()}"


class Phone(Panel):
    """One platform's phone on the page, acting as a resident would."""

    def __init__(self, driver: WebDriver, platform: str) -> None:
        super().__init__(driver, platform, f"{platform}-device")
        self.platform = platform

    def login(self, *, consent: bool = True) -> None:
        """Log in, then agree to the documents the consent step shows (unless ``consent`` is
        false), as a resident does at first launch."""
        self.ok("login")
        if consent and self.el("consent").is_displayed():
            self.ok("agree")
            assert not self.el("consent").is_displayed()

    def open_tab(self, tab: str) -> None:
        """Open a tab of the mini-program; it loads what it shows."""
        self.ok(f"tab-{tab}")
        assert self.el(f"pane-{tab}").is_displayed()

    def bind_phone(self, number: str) -> None:
        self.type("phone", number)
        self.ok("bind-phone")

    def declare(self, name: str, id_number: str, *, expect_ok: bool = True) -> None:
        self.type("name", name)
        self.choose("id-type", "cn_id")
        self.type("id-number", id_number)
        if expect_ok:
            self.ok("declare")
        else:
            self.tap("declare")

    def add_dependent(self, name: str, id_number: str, *, unable: bool = False) -> None:
        """Add a family member; ``unable``: they cannot apply themselves (adults under 60)."""
        self.type("dep-name", name)
        self.choose("dep-id-type", "cn_id")
        self.type("dep-id-number", id_number)
        if self.el("dep-unable").is_selected() != unable:
            self.el("dep-unable").click()
        self.ok("add-dependent")

    def self_id(self) -> str:
        return self.el("self-id").get_attribute("data-value") or ""

    def dependents(self) -> list[WebElement]:
        return self.el("me").find_elements(
            By.CSS_SELECTOR, f'[data-testid="{self.platform}-dependent-card"]'
        )

    def code_token(self) -> str:
        """The text the shown code encodes, as the page prints it (folded away by default)."""
        return self.el("code-token").get_attribute("textContent") or ""

    def code_png(self) -> bytes:
        """The bytes behind the code image (a blob: URL), read back through the page."""
        encoded = self.driver.execute_async_script(
            """
            const [img, done] = arguments;
            fetch(img.src).then((r) => r.arrayBuffer()).then((buffer) => {
              let text = "";
              for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
              done(btoa(text));
            }, (err) => done("error: " + err));
            """,
            self.el("code-img"),
        )
        assert not encoded.startswith("error"), encoded
        return base64.b64decode(encoded)

    def pushes(self) -> list[WebElement]:
        return self.el("push-list").find_elements(
            By.CSS_SELECTOR, f'[data-testid="{self.platform}-push"]'
        )

    def result_state(self) -> str:
        """The latest state shown for self (the first card): negative, pending, ..., none."""
        card = self.el("results").find_element(
            By.CSS_SELECTOR, f'[data-testid="{self.platform}-result-card"]'
        )
        return card.get_attribute("data-state") or ""

    # --- identity and family links (the Me pane) ---

    def notice(self) -> str:
        box = self.el("notice")
        return box.text if box.is_displayed() else ""

    def set_real_name(self, name: str = "", id_number: str = "") -> None:
        """What the platform knows this user really is; blank: the profile form's."""
        self.type("real-name-name", name)
        self.type("real-name-id-number", id_number)
        self.ok("set-real-name")

    def verify_and_declare(self, name: str, id_number: str) -> None:
        """The platform's real-name check of the profile form, then declare with its proof."""
        self.type("name", name)
        self.choose("id-type", "cn_id")
        self.type("id-number", id_number)
        self.ok("verify-declare")

    def refresh_me(self) -> None:
        self.ok("refresh-me")

    def _items(self, box: str, testid: str) -> list[WebElement]:
        return self.el(box).find_elements(
            By.CSS_SELECTOR, f'[data-testid="{self.platform}-{testid}"]'
        )

    def link_requests(self) -> list[WebElement]:
        """Requests waiting for this login's answer."""
        return self._items("link-requests", "link-request")

    def sent_requests(self) -> list[WebElement]:
        return self._items("sent-requests", "sent-request")

    def holders(self) -> list[WebElement]:
        """The other logins holding this login's own record."""
        return self._items("holders", "holder")

    def notices(self) -> list[WebElement]:
        return self._items("notices", "notice-item")

    def within(self, item: WebElement, name: str) -> None:
        """Tap a button inside a list item (approve, decline, remove) and wait for it."""
        item.find_element(By.CSS_SELECTOR, f'[data-testid="{self.platform}-{name}"]').click()
        busy = by_testid(self.driver, self.root)
        wait(self.driver).until(lambda _: busy.get_attribute("data-busy") == "false")
        assert self.error() == "", f"{self.platform} {name}: {self.error()}"


def open_page(driver: WebDriver, url: str) -> tuple[Phone, Phone]:
    driver.get(url + "/")
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    return Phone(driver, "wechat"), Phone(driver, "alipay")


def staff_and_lab(driver: WebDriver) -> tuple[Panel, Panel]:
    return Panel(driver, "staff", "staff-panel"), Panel(driver, "lab", "lab-panel")


def save_full_page_screenshot(driver: WebDriver, path: str, width: int = 1280) -> None:
    """For a person to look at the page; the window is left at that size."""
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, int(height) + 140)  # + the browser's own chrome
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(path)


def console_errors(driver: WebDriver) -> list[str]:
    """What the page logged as errors (script errors, failed loads) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
