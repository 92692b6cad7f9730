"""``make bench-keyrotation``: ``miniapp keys rotate`` over 100,000 residents vs a plain rewrite.

Both walk the same ``residents`` table in the same batches of 500 (``SELECT ... FOR UPDATE``
then one ``UPDATE`` per batch, as :class:`~miniapp_api.rekeying.rotate.Rotation` does). The
baseline writes every row back unchanged; the rotation decrypts 3 values per row under key 1,
re-encrypts them under key 2 and recomputes 2 blind indexes. ``ratio`` is the rotation's rows
per second over the baseline's: what the keys cost on top of the database work. The absolute
rows/s sizes a rotation (README, "Rotating keys").

Run alone: ``make bench-keyrotation`` (PostgreSQL at MINIAPP_BENCH_DATABASE_URL, default the
``test`` database's server).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, bindparam, create_engine, insert, select, update  # noqa: E402

from bench._procs import ScratchDatabase, guarded  # noqa: E402
from miniapp_api.migrate import upgrade  # noqa: E402
from miniapp_api.rekeying.rotate import Rotation  # noqa: E402
from miniapp_api.residents import records  # noqa: E402
from miniapp_api.residents.models import Resident  # noqa: E402
from miniapp_api.security.crypto import KeyRing, PersonalDataCrypto  # noqa: E402

ADMIN_URL = os.environ.get(
    "MINIAPP_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESIDENTS = 100_000
BATCH = 500


def seed(engine: Engine, crypto: PersonalDataCrypto) -> None:
    """Residents with an ID number, a name and a phone, all under key 1."""
    residents = Resident.__table__
    for start in range(0, RESIDENTS, 10_000):
        rows = []
        for n in range(start, start + 10_000):
            number = f"310115199001{n:06d}"
            phone = f"138{n:08d}"
            rows.append(
                {
                    "public_id": f"r_bench{n:010d}",
                    "id_type": "cn_id",
                    "id_index": crypto.blind_index(records.ID_PURPOSE, f"cn_id:{number}"),
                    "id_enc": crypto.encrypt(records.ID_PURPOSE, number),
                    "id_masked": "310***********0000",
                    "name_enc": crypto.encrypt(records.NAME_PURPOSE, "张三"),
                    "name_masked": "张*",
                    "phone_enc": crypto.encrypt(records.PHONE_PURPOSE, phone),
                    "phone_index": crypto.blind_index(records.PHONE_PURPOSE, phone),
                    "phone_masked": "138****0000",
                    "synthetic": False,
                }
            )
        with engine.begin() as connection:
            connection.execute(insert(residents), rows)


def plain_rewrite(engine: Engine) -> float:
    """Seconds to walk and rewrite every resident unchanged, in the rotation's batches."""
    table = Resident.__table__
    columns = ("id_enc", "id_index", "name_enc", "phone_enc", "phone_index", "updated_at")
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(c) for c in columns})
    )
    started, after = time.perf_counter(), 0
    while True:
        with engine.begin() as connection:
            query = select(table.c.id, *(table.c[c] for c in columns)).where(table.c.id > after)
            rows = connection.execute(
                query.order_by(table.c.id).limit(BATCH).with_for_update()
            ).all()
            if not rows:
                return time.perf_counter() - started
            connection.execute(
                statement, [{"row_id": r.id, **{c: getattr(r, c) for c in columns}} for r in rows]
            )
            after = rows[-1].id


def run(stack: ExitStack) -> int:
    database = ScratchDatabase(ADMIN_URL, "bench_keyrotation")
    stack.callback(database.drop)
    upgrade(database.url)
    engine = create_engine(database.url)
    stack.callback(engine.dispose)
    data1, index1, data2, index2 = (secrets.token_bytes(32) for _ in range(4))
    print(f"seeding {RESIDENTS:,} residents under key 1 ...", flush=True)
    seed(engine, PersonalDataCrypto(data1, index1))

    baseline = plain_rewrite(engine)
    rotated = PersonalDataCrypto(
        KeyRing({1: data1, 2: data2}, 2), KeyRing({1: index1, 2: index2}, 2)
    )
    started = time.perf_counter()
    [_, residents, _] = Rotation(engine, rotated, None, batch_size=BATCH).run()
    rotation = time.perf_counter() - started
    if residents.changed != RESIDENTS or residents.reindexed != 2 * RESIDENTS:
        raise RuntimeError(f"the rotation did not rewrite every resident: {residents.line()}")

    plain_rate, rotate_rate = RESIDENTS / baseline, RESIDENTS / rotation
    print()
    print("| walk (batches of 500) | seconds | rows/s |")
    print("|---|---|---|")
    print(f"| plain rewrite (baseline) | {baseline:.1f} | {plain_rate:,.0f} |")
    print(f"| `miniapp keys rotate` | {rotation:.1f} | {rotate_rate:,.0f} |")
    print(f"rotation rows/s: {rotate_rate:.0f}")
    print(f"ratio: {rotate_rate / plain_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(guarded("keyrotation", run))
