"""Staff are known to admission: a staff token draws on that staff member's own quota, never
on the client address that a whole sampling site shares; pre-login quotas count an IPv6 /64 as
one caller."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from miniapp_api.admission.routes import RouteClassifier
from miniapp_api.residents.models import Relation
from miniapp_api.sessions import SessionStore
from tests.support.apps import MakeApp
from tests.support.clients import StaffClient
from tests.support.factories import (
    bearer,
    make_account,
    make_residents,
    make_round,
    make_site,
    make_staff,
)

SITE_ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}  # one NAT in front of the whole site


def staff_at_one_site(app: Flask, count: int) -> list[StaffClient]:
    """``count`` staff logged in at a new site, and a round open."""
    make_round(app)
    return staff_at_another_site(app, count)


def staff_at_another_site(app: Flask, count: int) -> list[StaffClient]:
    site = make_site(app)
    members = []
    for _ in range(count):
        client = app.test_client()
        client.environ_base.update(SITE_ADDRESS)
        member = StaffClient(client, make_staff(app, site).username)
        assert member.login().status_code == 200, member.last
        members.append(member)
    return members


def closes(member: StaffClient, count: int) -> list[int]:
    """Statuses of ``count`` tube closes (critical, staff-only; an unknown tube is a 404)."""
    return [member.close(f"T-NOT-THERE-{n}").status_code for n in range(count)]


def test_six_staff_behind_one_address_are_not_throttled_as_one_stranger(
    make_app: MakeApp,
) -> None:
    # The address may log the six in, and not much more: before, the scans that followed were
    # charged to it, and the site got 429 after 20 of them in all.
    app = make_app(USER_RATE=0.01, USER_BURST=8, STAFF_RATE=0.01, STAFF_BURST=5)
    site = staff_at_one_site(app, 6)

    statuses = [status for member in site for status in closes(member, 5)]

    assert 429 not in statuses, statuses
    assert set(statuses) == {404}


def test_each_staff_member_is_held_to_their_own_quota(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.01, USER_BURST=8, STAFF_RATE=0.01, STAFF_BURST=3)
    busy, other = staff_at_one_site(app, 2)

    assert closes(busy, 4) == [404, 404, 404, 429]
    refused = busy.last
    assert refused is not None
    assert refused.get_json()["detail"]["reason"] == "user_quota"
    assert closes(other, 1) == [404]


def test_a_made_up_staff_token_is_charged_to_the_callers_address(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.01, USER_BURST=2, STAFF_RATE=0.01, STAFF_BURST=100)
    client = app.test_client()
    statuses = [
        client.post(
            "/api/v1/sampling/tubes/T1/close", headers={"Authorization": f"Bearer 7.made-up-{n}"}
        ).status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_a_resident_token_on_a_staff_route_opens_nothing_and_is_charged_as_unknown(
    make_app: MakeApp,
) -> None:
    app = make_app(USER_RATE=0.01, USER_BURST=2)
    resident = bearer(app, make_account(app, [(make_residents(app, 1)[0], Relation.SELF)]))
    client = app.test_client()
    statuses = [
        client.post("/api/v1/sampling/tubes/T1/close", headers=resident).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_before_login_an_ipv6_64_is_one_caller(make_app: MakeApp) -> None:
    app = make_app(USER_RATE=0.01, USER_BURST=2)
    client = app.test_client()

    def keys_from(address: str) -> int:
        response = client.get("/api/v1/codes/keys", environ_base={"REMOTE_ADDR": address})
        return response.status_code

    same_64 = [keys_from(f"2001:db8:1:2::{n:x}") for n in range(1, 4)]
    assert same_64 == [200, 200, 429]
    assert keys_from("2001:db8:1:3::1") == 200  # another /64
    assert keys_from("198.51.100.1") == 200


def test_only_authenticated_sampling_routes_take_a_staff_session(app: Flask) -> None:
    routes = RouteClassifier(app)._routes
    staff = sorted(endpoint for endpoint, route in routes.items() if route.staff)
    assert staff == ["sampling.close_tube", "sampling.post_scans", "sampling.staff_logout"]
    assert routes["residents.post_phone"].abusable  # spends the platform's phone-number quota


def test_the_staff_session_the_gate_read_is_the_one_the_view_uses(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    [member] = staff_at_one_site(app, 1)
    given: list[bool] = []
    resolve = SessionStore.resolve

    def seen(self: SessionStore, token: str, prefetched: Any = None) -> Any:
        given.append(prefetched is not None and prefetched.key == self.key_for(token))
        return resolve(self, token, prefetched)

    monkeypatch.setattr(SessionStore, "resolve", seen)

    assert closes(member, 1) == [404]
    assert given == [True]  # no second read of the session


def test_the_staff_of_one_site_share_its_budget_and_other_sites_do_not(
    make_app: MakeApp,
) -> None:
    # Each member could close 100 tubes; the site as a whole only 6 in a burst. The site comes
    # from the session the login made, never from anything the client sends.
    app = make_app(STAFF_RATE=0.01, STAFF_BURST=100, SITE_RATE=0.01, SITE_BURST=6)
    first, second = staff_at_one_site(app, 2)
    (elsewhere,) = staff_at_another_site(app, 1)

    statuses = closes(first, 4) + closes(second, 3)

    assert statuses == [404] * 6 + [503]
    refused = second.last
    assert refused is not None
    assert refused.get_json()["detail"]["reason"] == "site_quota"
    assert int(refused.headers["Retry-After"]) >= 1
    assert closes(elsewhere, 3) == [404, 404, 404]
