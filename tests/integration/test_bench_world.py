"""The benchmarks' world loads into today's schema (bench/_ingest_world.py writes rows with
COPY, column by column: a new NOT NULL column breaks the benchmarks, not the app, so this test
is where it shows first)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy import make_url

from miniapp_api.migrate import upgrade
from miniapp_api.security.crypto import PersonalDataCrypto
from tests.support.sql import rows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _ingest_world as world_mod  # noqa: E402  # a bench module, imported as the bench does


def test_a_small_world_loads_into_the_current_schema(postgresql_url: str) -> None:
    upgrade(postgresql_url)
    spec = world_mod.WorldSpec(tubes=3, http_tubes=0, capacity=10, dependent_share=0.1, names="zh")
    crypto = PersonalDataCrypto(os.urandom(32), os.urandom(32))
    conninfo = make_url(postgresql_url).set(drivername="postgresql").render_as_string(False)

    world_mod.build(conninfo, crypto, spec, lambda _line: None)

    links = rows(
        postgresql_url,
        "SELECT relation, count(*), count(DISTINCT public_id) FROM account_residents"
        " GROUP BY relation ORDER BY relation",
    )
    assert [tuple(r) for r in links] == [
        ("dependent", spec.dependents, spec.dependents),
        ("self", spec.residents, spec.residents),
    ]
