"""The real app and emulator on loopback, driven by Debian's headless Chromium.

The app is served by werkzeug in a thread on PostgreSQL, Redis and the emulator from
``tests/conftest.py``; the page calls our API (same origin) and the emulator's controls (CORS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.serving import make_server

from channels.emulator import RunningEmulator
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides, empty_tables

CHROMIUM = Path("/usr/bin/chromium")
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
    app = create_app(overrides)
    yield app
    app.extensions["miniapp"].db.dispose()


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
def live_app(
    live_url: str, browser_app: Flask, emulator: RunningEmulator, redis_client: redis.Redis
) -> Iterator[str]:
    """The served app with a reset emulator and empty Redis; tables emptied afterwards."""
    yield live_url
    empty_tables(browser_app)


@pytest.fixture
def driver(chromium: Path, tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (own profile, so empty localStorage) per test."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument("--window-size=1280,1000")
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    browser.set_page_load_timeout(15)
    yield browser
    browser.quit()
