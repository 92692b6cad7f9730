"""Abuse limits at the edge: the app's per-user quota per address (before login) and per
token, answered 429 with our contract, while other clients go on."""

from __future__ import annotations

from tests.integration.edge.conftest import StartEdge
from tests.integration.edge.running import assert_contract, get, held_backend

# A critical request may use the whole burst: 1 + (3 - 1) + 0.1/s x 10 s = 4 per window.
QUOTA = {"USER_RATE": 0.1, "USER_BURST": 3.0}
ALLOWED = 4


def test_an_address_over_its_quota_gets_429_and_another_address_does_not(
    start_edge: StartEdge,
) -> None:
    with (
        held_backend(hold=False) as backend,
        start_edge([backend.address], **QUOTA) as (
            _,
            listen,
        ),
    ):
        first = [get(listen, "/api/v1/results", source="127.0.0.1") for _ in range(ALLOWED + 2)]
        other = get(listen, "/api/v1/results", source="127.0.0.2")

    assert [a.status for a in first] == [200] * ALLOWED + [429, 429]
    for refused in first[ALLOWED:]:
        assert_contract(refused, status=429, code="rate_limited", reason="user_quota")
    assert other.status == 200
    # Each node sees the client's address last in X-Forwarded-For (TRUSTED_PROXIES=1).
    assert backend.forwarded_for[0] == "127.0.0.1"
    assert backend.forwarded_for[-1] == "127.0.0.2"


def test_a_token_over_its_quota_gets_429_and_another_token_of_its_address_does_not(
    start_edge: StartEdge,
) -> None:
    abuser = {"Authorization": "Bearer token-of-the-abuser"}
    neighbour = {"Authorization": "Bearer token-of-a-neighbour"}  # the same NAT address
    with (
        held_backend(hold=False) as backend,
        start_edge([backend.address], **QUOTA) as (
            haproxy,
            listen,
        ),
    ):
        first = [get(listen, "/api/v1/results", headers=abuser) for _ in range(ALLOWED + 1)]
        other = get(listen, "/api/v1/results", headers=neighbour)
        table = haproxy.command("show table edge_tokens")

    assert [a.status for a in first] == [200] * ALLOWED + [429]
    assert_contract(first[-1], status=429, code="rate_limited", reason="user_quota")
    assert other.status == 200
    # Hashed, never stored: neither the token nor its hex ("token" is 746f6b656e) is there.
    assert "token-of" not in table
    assert "746f6b656e" not in table.lower()
