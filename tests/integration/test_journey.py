"""The resident's whole journey over the API, for one person on both platforms:
log in → code → scan → lab result → push → lookup (README, "The screening journey")."""

from __future__ import annotations

from flask import Flask

from channels.emulator import RunningEmulator
from miniapp_api.db import utcnow
from miniapp_api.notify.worker import PushWorker
from tests.support.clients import LabClient, StaffClient, result, scan_item
from tests.support.factories import ago, make_lab, make_round, make_site, make_staff
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def test_one_person_from_code_to_pushed_result_on_both_platforms(
    app: Flask,
    wechat_user: MiniProgramUser,
    alipay_user: MiniProgramUser,
    phone: EmulatorPhone,
    emulator: RunningEmulator,
) -> None:
    client = wechat_user.client
    templates = app.extensions["miniapp"].settings.notify
    person = cn_id()
    for user, template in (
        (wechat_user, templates.wechat_template_id),
        (alipay_user, templates.alipay_template_id),
    ):
        assert user.register("张三", person).status_code == 200
        accepted = client.post(
            "/api/v1/me/subscriptions", json={"accepted": [template]}, headers=user.auth
        )
        assert accepted.status_code == 200, accepted.get_json()
    resident_id = wechat_user.me()["self"]["id"]
    assert alipay_user.me()["self"]["id"] == resident_id

    code = client.get(f"/api/v1/residents/{resident_id}/code", headers=alipay_user.auth)
    assert code.status_code == 200
    token = code.get_json()["token"]

    lab = make_lab(app)
    staff = make_staff(app, make_site(app, lab=lab))
    make_round(app)
    scanner = StaffClient(client, staff.username)
    assert scanner.login().status_code == 200
    # Sampled before the lab's test time below (result(): 30 minutes ago).
    sampled = scan_item(token, "T20220316001", capacity=10, scanned_at=ago(minutes=45))
    [bound] = scanner.scan_answers(sampled)
    [again] = scanner.scan_answers(scan_item(token, "T20220316001"))
    assert (bound["status"], again["status"]) == ("bound", "duplicate")
    assert scanner.close("T20220316001").status_code == 200

    pending = client.get("/api/v1/results", headers=wechat_user.auth).get_json()
    assert pending["residents"][0]["latest"]["state"] == "pending"

    upload = LabClient(client, lab).upload([result("T20220316001", "negative")])
    assert upload.status_code == 200, upload.get_json()
    assert upload.get_json()["items"][0]["status"] == "accepted"

    wire = app.extensions["miniapp"]
    stats = PushWorker(wire.db, wire.channels, wire.settings.notify).run_once(utcnow())
    assert stats.sent == 2
    pushed = phone.messages()
    assert {m["platform"] for m in pushed} == {"wechat", "alipay"}
    assert len(pushed) == 2

    for user in (wechat_user, alipay_user):
        found = client.get("/api/v1/results", headers=user.auth).get_json()
        [me] = found["residents"]
        assert (me["id"], me["latest"]["state"]) == (resident_id, "negative")
