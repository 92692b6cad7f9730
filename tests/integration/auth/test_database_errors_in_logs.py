"""A database error during a request is logged with its statement, never its parameters: the
login's lookup binds the openid (miniapp_api/db.py, ``hide_parameters``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from tests.support.residents import MiniProgramUser


@contextmanager
def accounts_lookup_fails(app: Flask) -> Iterator[None]:
    """The login's account lookup divides by zero in PostgreSQL (a DataError, so the 500 path
    that logs the whole traceback), with its parameters bound as usual."""
    engine = app.extensions["miniapp"].db.engine

    def divide_by_zero(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any
    ) -> tuple[str, Any]:
        if "FROM accounts" in statement and "accounts.subject =" in statement:
            statement = statement.replace("WHERE", "WHERE 1 / 0 = 1 AND", 1)
        return statement, parameters

    event.listen(engine, "before_cursor_execute", divide_by_zero, retval=True)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", divide_by_zero)


def test_a_failed_statement_is_logged_without_the_openid_it_was_given(
    app: Flask, wechat_user: MiniProgramUser, caplog: pytest.LogCaptureFixture
) -> None:
    with accounts_lookup_fails(app):
        answer = wechat_user.login()

    assert answer.status_code == 500
    assert wechat_user.subject
    assert "DivisionByZero" in caplog.text  # the traceback was logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in caplog.text
    assert "[parameters:" not in caplog.text
    assert wechat_user.subject not in caplog.text
