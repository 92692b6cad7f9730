"""``GET /api/v1/app/config``: what the mini-programs set themselves up from, public and
cacheable."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.wiring import wiring_of
from tests.conftest import PlatformKeys
from tests.support.apps import MakeApp
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE

PATH = "/api/v1/app/config"
RESULT_FIELDS = {
    "wechat": ["thing1", "phrase2", "time3", "character_string4", "thing5"],
    "alipay": ["keyword1", "keyword2", "keyword3", "keyword4", "keyword5"],
}


def test_each_platform_names_its_app_and_the_templates_to_prompt_for(
    app: Flask, client: FlaskClient, platform_keys: PlatformKeys
) -> None:
    response = client.get(PATH)

    assert response.status_code == 200
    config = response.get_json()
    # The notice templates come from the config layer (development.toml names them).
    notify = wiring_of(app).settings.notify
    wechat_notice = notice(notify.wechat_notice_template_id, ["thing1", "phrase2", "time3"])
    assert config["wechat"] == {
        "app_id": platform_keys.wechat_app_id,
        "open_page": "pages/results/index",
        "templates": [
            {
                "id": WECHAT_TEMPLATE,
                "kind": "result",
                "fields": RESULT_FIELDS["wechat"],
                "page": "pages/results/index",
            },
            *wechat_notice,
        ],
        "miniprogram_state": "formal",
    }
    alipay = config["alipay"]
    assert alipay["app_id"] == platform_keys.alipay_app_id
    assert alipay["templates"][0] == {
        "id": ALIPAY_TEMPLATE,
        "kind": "result",
        "fields": RESULT_FIELDS["alipay"],
        "page": "pages/results/index",
    }
    assert alipay["templates"][1:] == notice(
        notify.alipay_notice_template_id, ["keyword1", "keyword2", "keyword3"]
    )
    assert alipay["miniprogram_state"] is None


def notice(template_id: str, fields: list[str]) -> list[dict[str, object]]:
    """The notice template's entry, if one is configured."""
    if not template_id:
        return []
    return [{"id": template_id, "kind": "notice", "fields": fields, "page": "pages/family/index"}]


def test_it_names_the_h5_lookup_and_the_documents_current_versions(
    app: Flask, client: FlaskClient
) -> None:
    config = client.get(PATH).get_json()

    assert config["h5_lookup_url"].endswith("/lookup")
    assert config["documents"] == {name: d.version for name, d in DOCUMENTS.items()}


def test_it_is_cacheable_and_revalidates_to_304(app: Flask, client: FlaskClient) -> None:
    first = client.get(PATH)
    etag = first.headers["ETag"]

    again = client.get(PATH, headers={"If-None-Match": etag})

    assert "public" in first.headers["Cache-Control"]
    assert "max-age=300" in first.headers["Cache-Control"]
    assert again.status_code == 304
    assert again.data == b""
    assert client.get(PATH, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_a_notice_template_and_a_trial_build_change_the_answer_and_its_etag(
    app: Flask, client: FlaskClient, make_app: MakeApp
) -> None:
    before = client.get(PATH)
    other = make_app(
        sections={
            "NOTIFY": {"WECHAT_NOTICE_TEMPLATE_ID": "tpl-wx-notice-2", "MINIPROGRAM_STATE": "trial"}
        }
    )

    after = other.test_client().get(PATH, headers={"If-None-Match": before.headers["ETag"]})

    assert after.status_code == 200
    wechat = after.get_json()["wechat"]
    assert [(t["id"], t["kind"], t["page"]) for t in wechat["templates"]] == [
        (WECHAT_TEMPLATE, "result", "pages/results/index"),
        ("tpl-wx-notice-2", "notice", "pages/family/index"),
    ]
    assert wechat["templates"][1]["fields"] == ["thing1", "phrase2", "time3"]
    assert wechat["miniprogram_state"] == "trial"
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_platform_that_is_not_enabled_is_null(make_app: MakeApp) -> None:
    only_wechat = make_app(sections={"ALIPAY": {"APP_ID": ""}})

    config = only_wechat.test_client().get(PATH).get_json()

    assert config["alipay"] is None
    assert config["wechat"] is not None


def test_the_route_needs_no_login_and_is_described(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][PATH]["get"]

    assert operation["x-traffic-class"] == "normal"
    assert not operation.get("security")
    assert "AppConfigOut" in doc["components"]["schemas"]
