"""What the pages say, held against the code: the inventory, the platform interfaces the
mini-programs call, the rules the terms state; and the bytes are the same in every process."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape

from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.legal.labels import PARTIES
from miniapp_api.legal.rendering import content_hash, render
from miniapp_api.lookup.limits import LIFETIME_FAILURES
from miniapp_api.privacy.inventory import REDIS_FAMILIES, TABLES, personal_columns
from miniapp_api.privacy.terms import NotPersonal, Personal, Recipient
from miniapp_api.settings import CodeSettings, ResidentSettings, RetentionSettings

REPOSITORY = Path(__file__).resolve().parents[3]
# Where the mini-programs' calls are named: adapters, the client module, the simulator page,
# the notify and real-name code. The legal package itself lists them, so it is not a source.
SOURCES = ("channels", "miniapp_api", "templates/simulator")
PLATFORM_CALL = re.compile(r"\b(?:wx|my)\.[a-z][A-Za-z]+\b")


def text_of(name: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", render(name).decode()))


def platform_calls() -> set[str]:
    found: set[str] = set()
    for top in SOURCES:
        for path in (REPOSITORY / top).rglob("*"):
            if path.suffix not in {".py", ".js", ".html"} or "legal" in path.parts:
                continue
            if "vendor" in path.parts:
                continue
            found |= set(PLATFORM_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_personal_column_appears_on_the_data_inventory_page() -> None:
    page = render("data-inventory").decode()

    for table, column, use in personal_columns():
        row = re.search(
            rf'<tr data-column="{re.escape(table)}\.{re.escape(column.name)}">(.*?)</tr>',
            page,
            re.DOTALL,
        )
        assert row is not None, f"{table}.{column.name} is missing from the inventory page"
        assert escape(use.purpose.zh) in row.group(1), f"{table}.{column.name}"
        assert escape(use.retention.en) in row.group(1), f"{table}.{column.name}"


def test_the_data_inventory_page_lists_personal_entries_only() -> None:
    page = render("data-inventory").decode()
    listed = set(re.findall(r'<tr data-column="([^"]+)">', page))

    assert listed == {f"{table}.{column.name}" for table, column, _ in personal_columns()}
    for table in TABLES:
        if not any(isinstance(c.use, Personal) for c in table.columns):
            assert f'data-table="{table.name}"' not in page, table.name
    for family in REDIS_FAMILIES:
        shown = escape(family.keys[0]) in page
        assert shown == isinstance(family.holds, Personal), family.prefix
    not_personal = sum(isinstance(c.use, NotPersonal) for t in TABLES for c in t.columns)
    assert f"其余 {not_personal} 个数据库字段" in page


def test_the_privacy_guide_names_every_platform_interface_the_code_calls() -> None:
    calls = platform_calls()
    page = text_of("privacy")

    # The list the scan must at least find, so that a broken scan cannot pass.
    assert {
        "wx.login",
        "wx.requestSubscribeMessage",
        "my.getAuthCode",
        "my.getPhoneNumber",
        "my.requestSubscribeMessage",
        "my.startAPVerify",
    } <= calls
    missing = sorted(call for call in calls if call not in page)
    assert not missing, f"the privacy guide does not name {missing} (legal/platform_apis.py)"
    assert "getPhoneNumber" in page  # WeChat's phone-number button (open-type)
    assert "checkrealnameinfo" in page  # WeChat's real-name check
    assert "alipay.user.certify.open.initialize" in page  # Alipay's face check


def test_the_privacy_guide_states_the_rights_and_their_routes() -> None:
    page = text_of("privacy")

    for route in (
        "GET /api/v1/me/export",
        "DELETE /api/v1/me",
        "DELETE /api/v1/me/consents/<document>",
    ):
        assert route in page
    for article in ("第二十八条", "第二十九条", "第三十一条", "第四十五条", "第四十七条"):
        assert article in page


def test_the_third_parties_page_names_every_recipient_and_what_it_receives() -> None:
    page = text_of("third-parties")
    received: dict[Recipient, set[str]] = {r: set() for r in Recipient}
    for table, column, use in personal_columns():
        for recipient in use.recipients:
            received[recipient].add(f"{table}.{column.name}")

    for recipient, party in PARTIES.items():
        assert party.name.zh in page
        assert party.name.en in page
        for field in received[recipient]:
            assert field in page, f"{field} sent to {recipient} is not listed"
    assert not received[Recipient.LABS]
    assert "本服务不向其提供任何个人信息" in page


def test_the_rules_stated_are_the_configured_defaults() -> None:
    terms, privacy = text_of("terms"), text_of("privacy")
    rules, codes, kept = ResidentSettings(), CodeSettings(), RetentionSettings()

    assert f"有效期 {codes.ttl_days} 天" in terms
    assert f"valid for {codes.ttl_days} days" in terms
    assert f"未满 {rules.proxy_minor_under_age} 周岁" in terms
    assert f"最多代办 {rules.max_dependents} 人" in terms
    assert f"连续输错 {LIFETIME_FAILURES} 次" in terms
    assert f"after {LIFETIME_FAILURES} wrong tries" in terms
    assert f"检测后 {kept.results_days} 天" in privacy
    assert f"采样后 {kept.samplings_days} 天" in privacy


def test_the_sensitive_data_consent_says_what_refusing_means() -> None:
    page = text_of("sensitive-data")

    assert "第二十九条" in page
    assert "不能登记本人信息、不能添加家庭成员" in page
    assert "不会为您签发登记码" in page
    assert "sensitive-data" in page


def test_an_unknown_document_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        render("cookies")
    with pytest.raises(KeyError):
        content_hash("cookies")


def test_the_pages_are_the_same_bytes_in_every_process() -> None:
    """Sets iterate in a per-process order (PYTHONHASHSEED): a page built from one would
    change its hash from one worker to the next, and consents would cite nothing."""
    script = (
        "from miniapp_api.legal.documents import DOCUMENTS\n"
        "from miniapp_api.legal.rendering import content_hash\n"
        "print(' '.join(content_hash(n) for n in DOCUMENTS))\n"
    )
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(  # noqa: S603 (our own interpreter, a fixed script)
            [sys.executable, "-c", script],
            env=env,
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(done.stdout.strip())
    assert outputs == {" ".join(content_hash(n) for n in DOCUMENTS)}
