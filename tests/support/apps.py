"""Apps made inside a test, with some config sections overridden, disposed of at the end.

The suite's shared app (``tests/conftest.py``) has admission quotas no test reaches; tests of
overload protection, run-time controls and Redis failures build their own apps here, on the
same PostgreSQL and emulator (and the Redis of their choice).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from flask import Flask

from miniapp_api import create_app

# Admission on, as in production, with quotas a test only meets when it sets them.
HIGH_QUOTAS = {"USER_RATE": 1000.0, "USER_BURST": 1000.0}


class MakeApp(Protocol):
    def __call__(
        self,
        *,
        redis_url: str | None = None,
        sections: dict[str, dict[str, Any]] | None = None,
        **overload: Any,
    ) -> Flask: ...


@contextmanager
def app_factory(base: dict[str, Any]) -> Iterator[MakeApp]:
    """``make(USER_RATE=..., redis_url=..., sections={"APP": {...}})`` builds an app from
    ``base`` (``app_overrides``) with these OVERLOAD settings and other sections merged in; on
    exit the database is emptied and every app disposed of."""
    made: list[Flask] = []

    def make(
        *,
        redis_url: str | None = None,
        sections: dict[str, dict[str, Any]] | None = None,
        **overload: Any,
    ) -> Flask:
        overrides = copy.deepcopy(base)
        if redis_url is not None:
            overrides["REDIS"]["URL"] = redis_url
        for name, values in (sections or {}).items():
            overrides[name] = {**overrides.get(name, {}), **values}
        overrides["OVERLOAD"] = {**HIGH_QUOTAS, **overrides.get("OVERLOAD", {}), **overload}
        app = create_app(overrides)
        app.testing = True  # an unhandled error is raised in the client, never hidden in a 500
        made.append(app)
        return app

    try:
        yield make
    finally:
        from tests.conftest import empty_tables

        if made:
            empty_tables(made[0])
        for app in made:
            wire = app.extensions["miniapp"]
            wire.db.dispose()
            wire.redis.close()
