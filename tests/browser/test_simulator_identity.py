"""The simulator page walks family link requests and the platforms' real-name check."""

from __future__ import annotations

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import open_page
from tests.support.ids import cn_id


@pytest.mark.browser
@pytest.mark.postgres
def test_a_second_holder_is_linked_once_the_first_approves(
    driver: WebDriver, live_app: str
) -> None:
    grandma = cn_id(birth="19480101")
    wechat, alipay = open_page(driver, live_app)
    wechat.login()
    wechat.add_dependent("李秀英", grandma)
    held = wechat.dependents()[0].get_attribute("data-resident-id")

    alipay.login()
    alipay.add_dependent("李秀英", grandma)

    assert "等待持有人同意" in alipay.notice()
    assert alipay.dependents() == []
    [sent] = alipay.sent_requests()
    assert sent.get_attribute("data-status") == "pending"
    wechat.refresh_me()
    [request] = wechat.link_requests()
    assert "李*英" in request.text
    assert "alipay" in request.text
    assert grandma not in request.text

    wechat.within(request, "approve-request")

    assert wechat.link_requests() == []
    alipay.refresh_me()
    [linked] = alipay.dependents()
    assert linked.get_attribute("data-resident-id") == held
    assert alipay.sent_requests()[0].get_attribute("data-status") == "approved"
    assert [n.get_attribute("data-kind") for n in alipay.notices()] == ["link_approved"]


@pytest.mark.browser
@pytest.mark.postgres
def test_the_person_verifies_their_real_name_takes_their_record_and_removes_a_holder(
    driver: WebDriver, live_app: str
) -> None:
    grandma = cn_id(birth="19480101")
    wechat, alipay = open_page(driver, live_app)
    wechat.login()
    wechat.add_dependent("李秀英", grandma)
    made_for_her = wechat.dependents()[0].get_attribute("data-resident-id")

    # Grandma logs in on Alipay herself; the platform knows who she is (typed in the form).
    alipay.login()
    alipay.type("name", "李秀英")
    alipay.type("id-number", grandma)
    alipay.set_real_name()
    alipay.verify_and_declare("李秀英", grandma)

    assert alipay.el("self-verified").is_displayed()
    assert alipay.self_id() == made_for_her
    [grandson] = alipay.holders()
    assert grandson.get_attribute("data-platform") == "wechat"
    assert grandson.get_attribute("data-relation") == "dependent"

    alipay.within(grandson, "remove-holder")

    assert alipay.holders() == []
    wechat.refresh_me()
    assert wechat.dependents() == []
    assert [n.get_attribute("data-kind") for n in wechat.notices()] == ["holder_removed"]


@pytest.mark.browser
@pytest.mark.postgres
def test_a_platform_that_knows_someone_else_verifies_nothing(
    driver: WebDriver, live_app: str
) -> None:
    wechat, _ = open_page(driver, live_app)
    wechat.login()
    wechat.set_real_name("王五", cn_id())

    wechat.type("name", "张三")
    wechat.type("id-number", cn_id())
    wechat.tap("verify-declare")

    assert wechat.el("error-code").text == "real_name_not_confirmed"
    assert wechat.self_id() == ""


@pytest.mark.browser
@pytest.mark.postgres
def test_an_adult_under_60_is_added_only_as_unable_to_apply(
    driver: WebDriver, live_app: str
) -> None:
    adult = cn_id(birth="19800101")
    wechat, _ = open_page(driver, live_app)
    wechat.login()

    wechat.type("dep-name", "王芳")
    wechat.type("dep-id-number", adult)
    wechat.tap("add-dependent")
    assert wechat.el("error-code").text == "proxy_not_allowed"

    wechat.add_dependent("王芳", adult, unable=True)
    assert len(wechat.dependents()) == 1
    assert "已添加家人" in wechat.notice()
