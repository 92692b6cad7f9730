"""The simulator's phones subscribe as a mini-program team builds them: the templates come from
``GET /api/v1/app/config`` (nothing of them is in the page), the prompt offers every one, and the
platform's own result object goes to ``POST /api/v1/me/subscriptions`` unchanged.

What the page sends and what it receives of the config are seen through ``window.fetch``,
wrapped before the page's scripts run (``spy_on_fetch``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Phone, open_page
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE

CONFIG_PATH = "/api/v1/app/config"
SUBSCRIPTIONS_PATH = "/api/v1/me/subscriptions"
# A notice template the config offers but this server does not send: the API names it in
# `ignored`.
STALE_NOTICE = "tpl-wx-notice-stale"

# Installed before any script of the page. `REWRITE` is null, or a function from the config the
# API answered to what the page gets instead (an object, or a Response); `window.fetchSpy.pass`
# turns it off.
FETCH_SPY = """
(() => {
  const rewrite = REWRITE;
  const original = window.fetch.bind(window);
  const spy = window.fetchSpy = { sent: [], pass: false };
  window.fetch = async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    spy.sent.push({ method: init.method || "GET", path: url.pathname, body: init.body || null });
    const response = await original(input, init);
    if (!rewrite || spy.pass || url.pathname !== "CONFIG_PATH") return response;
    const out = rewrite(await response.json());
    return out instanceof Response ? out : new Response(JSON.stringify(out),
      { status: 200, headers: { "Content-Type": "application/json" } });
  };
})();
"""


def spy_on_fetch(driver: WebDriver, rewrite: str = "null") -> None:
    """Record every fetch of the next pages loaded; ``rewrite`` (JavaScript) alters the config."""
    assert isinstance(driver, webdriver.Chrome)
    source = FETCH_SPY.replace("REWRITE", rewrite).replace("CONFIG_PATH", CONFIG_PATH)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})


def sent(driver: WebDriver, path: str) -> list[tuple[str, Any]]:
    """What the page sent to ``path``: (method, the JSON body or None), in order."""
    calls = driver.execute_script("return window.fetchSpy.sent")
    return [
        (c["method"], json.loads(c["body"]) if c["body"] else None)
        for c in calls
        if c["path"] == path
    ]


def offered(live_app: str, platform: str) -> list[str]:
    """The template ids the app config lists for ``platform`` (result first, then notices)."""
    config = requests.get(f"{live_app}{CONFIG_PATH}", timeout=5).json()
    return [t["id"] for t in config[platform]["templates"]]


def subscribe(phone: Phone) -> None:
    phone.login()
    phone.open_tab("messages")
    phone.ok("subscribe")


@pytest.mark.browser
@pytest.mark.postgres
def test_the_phones_read_their_templates_from_the_app_config_and_report_the_raw_result(
    driver: WebDriver, live_app: str
) -> None:
    wechat_ids, alipay_ids = offered(live_app, "wechat"), offered(live_app, "alipay")
    assert (wechat_ids[0], alipay_ids[0]) == (WECHAT_TEMPLATE, ALIPAY_TEMPLATE)
    served = requests.get(f"{live_app}/", timeout=5).text
    assert not [t for t in wechat_ids + alipay_ids if t in served], (
        "the page carries no template id: the phones read them from the app config"
    )
    spy_on_fetch(driver)
    wechat, alipay = open_page(driver, live_app)

    assert sent(driver, CONFIG_PATH) == [("GET", None), ("GET", None)], "each phone at launch"
    assert wechat.el("templates").get_attribute("data-result") == WECHAT_TEMPLATE
    assert alipay.el("templates").get_attribute("data-result") == ALIPAY_TEMPLATE

    subscribe(wechat)
    subscribe(alipay)

    (wechat_report, alipay_report) = sent(driver, SUBSCRIPTIONS_PATH)
    # wx.requestSubscribeMessage's success result after accepting every template, as it is.
    assert wechat_report == (
        "POST",
        {"errMsg": "requestSubscribeMessage:ok", **{t: "accept" for t in wechat_ids}},
    )
    # my.requestSubscribeMessage's, as it is.
    method, body = alipay_report
    assert (method, body["behavior"]) == ("POST", "subscribe")
    assert body["result"]["subscribeEntityIds"] == alipay_ids
    assert [t for t in alipay_ids if body[t] == "accept"] == alipay_ids
    for phone in (wechat, alipay):
        shown = phone.el("subscription")
        assert shown.get_attribute("data-remaining") == "1"
        assert shown.get_attribute("data-ignored") == ""


@pytest.mark.browser
@pytest.mark.postgres
def test_the_prompt_offers_every_template_of_the_config_and_shows_what_was_ignored(
    driver: WebDriver, live_app: str
) -> None:
    """A config listing a notice template this server does not send: the page prompts for what
    the config says, not for what the server has, and shows the API's `ignored`."""
    notice = {"id": STALE_NOTICE, "kind": "notice", "fields": [], "page": "pages/family/index"}
    spy_on_fetch(driver, f"(c) => {{ c.wechat.templates.push({json.dumps(notice)}); return c; }}")
    wechat, _ = open_page(driver, live_app)
    assert STALE_NOTICE in (wechat.el("templates").get_attribute("textContent") or "")

    subscribe(wechat)

    ((_, report),) = sent(driver, SUBSCRIPTIONS_PATH)
    accepted = [*offered(live_app, "wechat"), STALE_NOTICE]
    assert report == {"errMsg": "requestSubscribeMessage:ok", **{t: "accept" for t in accepted}}
    shown = wechat.el("subscription")
    assert shown.get_attribute("data-ignored") == STALE_NOTICE
    assert shown.get_attribute("data-remaining") == "1"


@pytest.mark.browser
@pytest.mark.postgres
def test_a_platform_without_a_result_template_offers_no_subscription(
    driver: WebDriver, live_app: str
) -> None:
    spy_on_fetch(driver, "(c) => { c.alipay.templates = []; return c; }")
    wechat, alipay = open_page(driver, live_app)
    wechat.login()
    alipay.login()

    alipay.open_tab("messages")
    wechat.open_tab("messages")

    assert alipay.el("templates").get_attribute("data-state") == "none"
    assert not alipay.el("subscribe").is_enabled()
    assert wechat.el("subscribe").is_enabled()


@pytest.mark.browser
@pytest.mark.postgres
def test_a_config_that_cannot_be_read_is_shown_and_read_again_on_the_messages_tab(
    driver: WebDriver, live_app: str
) -> None:
    unavailable = (
        "() => new Response(JSON.stringify({ code: 'overloaded', message: 'busy', detail: {} }),"
        " { status: 503, headers: { 'Content-Type': 'application/json', 'Retry-After': '1' } })"
    )
    spy_on_fetch(driver, unavailable)
    wechat, _ = open_page(driver, live_app)
    wechat.login()
    wechat.open_tab("messages")

    templates = wechat.el("templates")
    assert templates.get_attribute("data-state") == "error"
    assert "overloaded" in templates.text
    assert "HTTP 503" in templates.text
    assert not wechat.el("subscribe").is_enabled()

    driver.execute_script("window.fetchSpy.pass = true")  # the API answers again
    wechat.open_tab("me")
    wechat.open_tab("messages")

    assert templates.get_attribute("data-state") == "ok"
    assert templates.get_attribute("data-result") == WECHAT_TEMPLATE
    wechat.ok("subscribe")
    assert wechat.el("subscription").get_attribute("data-remaining") == "1"
