"""The message catalogue against the source: every code the API can answer has its entry, in
both languages, with the status it is raised with; no entry is left that nothing raises."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from miniapp_api.errors import HTTP_CODES
from miniapp_api.messages import CATALOGUE, DetailKind, Text, negotiate
from miniapp_api.messages.rejections import REASONS
from miniapp_api.overload.rejection import CODES as REJECTION_CODES
from miniapp_api.overload.rejection import Rejection

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "miniapp_api").rglob("*.py")),
    *sorted((ROOT / "channels").rglob("*.py")),
]
# The error classes of miniapp_api/errors.py and their statuses; subclasses elsewhere are read
# from the source (``status, code = 413, "batch_too_large"``).
BASE_STATUSES = {
    "ApiError": 400,
    "BadRequest": 400,
    "Unauthorized": 401,
    "NotFound": 404,
    "Conflict": 409,
    "UnsupportedMediaType": 415,
    "ValidationFailed": 422,
    "ServiceUnavailable": 503,
}
HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in SOURCES:
        yield path, ast.parse(path.read_text(), str(path))


def _class_defaults() -> dict[str, tuple[int, str]]:
    """``{class name: (status, code)}`` of every ApiError subclass."""
    found: dict[str, tuple[int, str]] = {}
    for _, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.targets[0], ast.Tuple)
                    and [getattr(t, "id", None) for t in statement.targets[0].elts]
                    == ["status", "code"]
                ):
                    status, code = ast.literal_eval(statement.value)
                    found[node.name] = (status, code)
    return found


def _raised() -> dict[str, set[int]]:
    """``{code: statuses}`` of every code the source raises or answers."""
    defaults = _class_defaults()
    statuses = {**BASE_STATUSES, **{name: s for name, (s, _) in defaults.items()}}
    used: dict[str, set[int]] = {}
    for code_status in defaults.values():
        used.setdefault(code_status[1], set()).add(code_status[0])
    for _, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node.func)
            if name in statuses:
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        used.setdefault(str(keyword.value.value), set()).add(statuses[name])
            elif name == "error_response" and len(node.args) >= 2:
                first, second = node.args[0], node.args[1]
                if isinstance(first, ast.Constant) and isinstance(second, ast.Constant):
                    used.setdefault(str(second.value), set()).add(int(str(first.value)))
    for http_status, http_code in HTTP_CODES.items():
        used.setdefault(http_code, set()).add(http_status)
    for reason, rejected in _rejections():
        used.setdefault(Rejection(rejected, reason, 1.0).code, set()).add(rejected)
    return used


def _called(func: ast.expr) -> str | None:
    """``NotFound`` for ``NotFound(...)`` and ``ServiceUnavailable.retry_later(...)``."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return None


def _rejections() -> set[tuple[str, int]]:
    """``(reason, status)`` of every ``Rejection(status, "reason", ...)`` written in the source
    (a status computed at run time counts as 429 and 503), and of every ServiceUnavailable."""
    found: set[tuple[str, int]] = set()
    for _, tree in _trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node.func) == "Rejection"):
                continue
            if len(node.args) < 2:
                continue
            reason = node.args[1]
            # "platform_throttled" if busy else "platform_unavailable": both
            choices = [reason.body, reason.orelse] if isinstance(reason, ast.IfExp) else [reason]
            status = node.args[0]
            statuses = [int(str(status.value))] if isinstance(status, ast.Constant) else [429, 503]
            found |= {
                (str(choice.value), s)
                for choice in choices
                if isinstance(choice, ast.Constant)
                for s in statuses
            }
    return found


def test_every_code_the_source_answers_has_an_entry_with_its_status() -> None:
    raised = _raised()
    missing = sorted(set(raised) - set(CATALOGUE))
    assert not missing, f"codes without a catalogue entry: {missing}"
    wrong = {
        code: (sorted(statuses), CATALOGUE[code].statuses)
        for code, statuses in raised.items()
        if not statuses <= set(CATALOGUE[code].statuses)
        # a rejection whose status is computed: either of the contract's is fine
        and not (CATALOGUE[code].detail is DetailKind.REJECTION and statuses <= {429, 503})
    }
    assert not wrong, f"raised with a status the catalogue does not list: {wrong}"


def test_every_entry_is_answered_somewhere() -> None:
    unused = sorted(set(CATALOGUE) - set(_raised()))
    assert not unused, f"catalogue entries no code uses: {unused}"


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_entry_speaks_chinese_and_english(code: str) -> None:
    entry = CATALOGUE[code]
    assert HAS_CJK.search(entry.zh), f"{code}: zh is not Chinese"
    assert entry.en.strip(), f"{code}: no English"
    assert not HAS_CJK.search(entry.en), f"{code}: en is not English"
    assert entry.statuses
    assert all(400 <= s < 600 for s in entry.statuses)
    assert bool(entry.fields) == (entry.detail is DetailKind.OBJECT), code


def test_every_rejection_reason_has_words_in_both_languages() -> None:
    written = {reason for reason, _ in _rejections()}
    assert written | set(REJECTION_CODES) <= set(REASONS)
    for reason, text in REASONS.items():
        assert isinstance(text, Text)
        assert HAS_CJK.search(text.zh), reason
        assert not HAS_CJK.search(text.en), reason
        assert Rejection(503, reason, 1.0).code in CATALOGUE, reason


def test_every_rejection_code_is_a_rejection_in_the_catalogue() -> None:
    for code in {*REJECTION_CODES.values(), "overloaded"}:
        assert CATALOGUE[code].detail is DetailKind.REJECTION, code


def test_the_scanner_sees_codes_written_across_lines() -> None:
    # Guards the test itself: these are raised with the code on a line of its own.
    raised = _raised()
    assert raised["consent_required"] == {409}
    assert raised["lab_auth_unavailable"] == {503}
    assert raised["batch_too_large"] == {413}
    assert raised["method_not_allowed"] == {405}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("EN-gb", "en"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-TW,en;q=0.5", "zh"),
        ("en;q=0.4, zh;q=0.8", "zh"),
        ("zh;q=0.3, en;q=0.7", "en"),
        ("fr, en;q=0.1", "en"),
        ("fr", "zh"),
        ("*", "zh"),
        ("en;q=0", "zh"),
        ("en" + ", x" * 200, "zh"),  # past the parsed length: the default
    ],
)
def test_accept_language_picks_chinese_unless_english_is_preferred(
    header: str | None, expected: str
) -> None:
    assert negotiate(header) == expected
