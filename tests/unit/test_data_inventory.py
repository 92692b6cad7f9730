"""The data inventory (miniapp_api/privacy) against the schema and the source it describes."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import miniapp_api
import miniapp_api.models
from miniapp_api.privacy.inventory import REDIS_FAMILIES, TABLES, personal_columns
from miniapp_api.privacy.terms import BASIS_TEXT, Category, Personal, Recipient, Sensitive
from miniapp_api.sampling.guard import STAFF_NAMESPACE
from miniapp_api.sessions import SessionStore

ROOT = Path(miniapp_api.__file__).parent
# The code that writes to our Redis: the app and the platform adapters (not the emulator, a
# separate process with its own state; not the Alembic scripts, whose strings are SQL).
SOURCES = [
    *(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts),
    *(p for p in (ROOT.parent / "channels").rglob("*.py") if "emulator" not in p.parts),
]
# "<family>:{" at the start of a string literal or an f-string ("{{" is "{" once parsed).
_KEY_SHAPE = re.compile(r"^([a-z][a-z0-9_]*):\{")
# Shaped like keys but fields of the "view:{<account>}" hash (accountview.KeptScreen templates).
VIEW_FIELDS = {"code", "png", "svg"}


def _classified() -> dict[str, dict[str, object]]:
    return {t.name: {c.name: c.use for c in t.columns} for t in TABLES}


def test_every_column_of_every_model_is_classified() -> None:
    schema = {
        name: {c.name for c in table.columns}
        for name, table in miniapp_api.models.metadata.tables.items()
    }
    listed = {name: set(columns) for name, columns in _classified().items()}
    missing = {t: sorted(cols - listed.get(t, set())) for t, cols in schema.items()}
    assert {t: c for t, c in missing.items() if c} == {}, "classify these in miniapp_api/privacy"


def test_every_classified_column_still_exists() -> None:
    schema = {
        name: {c.name for c in table.columns}
        for name, table in miniapp_api.models.metadata.tables.items()
    }
    gone = {t: sorted(set(cols) - schema.get(t, set())) for t, cols in _classified().items()}
    assert {t: c for t, c in gone.items() if c} == {}


def test_no_column_is_classified_twice() -> None:
    for table in TABLES:
        names = [c.name for c in table.columns]
        assert len(names) == len(set(names)), table.name
    assert len({t.name for t in TABLES}) == len(TABLES)


def _complete(entry: Personal) -> bool:
    texts = (entry.purpose, entry.retention, *(BASIS_TEXT[b] for b in entry.bases))
    return bool(entry.bases) and all(t.zh.strip() and t.en.strip() for t in texts)


def test_each_personal_column_says_why_on_what_basis_how_long_and_to_whom() -> None:
    for table, column, entry in personal_columns():
        assert _complete(entry), f"{table}.{column.name}"
        assert entry.recipients <= set(Recipient), f"{table}.{column.name}"


def test_each_personal_redis_family_says_why_on_what_basis_and_how_long() -> None:
    for family in REDIS_FAMILIES:
        assert all(t.zh and t.en for t in (family.purpose, family.ttl)), family.prefix
        if isinstance(family.holds, Personal):
            assert _complete(family.holds), family.prefix


def test_id_numbers_health_and_whereabouts_are_sensitive() -> None:
    required = {
        Category.ID_DOCUMENT: Sensitive.ID_NUMBER,
        Category.HEALTH: Sensitive.HEALTH,
        Category.LOCATION_TIME: Sensitive.WHEREABOUTS,
    }
    entries = [(f"{t}.{c.name}", e) for t, c, e in personal_columns()]
    entries += [(f.prefix, f.holds) for f in REDIS_FAMILIES if isinstance(f.holds, Personal)]
    for where, entry in entries:
        if entry.category in required:
            assert required[entry.category] in entry.sensitive, where


def test_personal_data_about_residents_is_sensitive_as_a_childs() -> None:
    """Dependants of any age are residents: a table about residents may hold a child's data."""
    about_residents = {
        name
        for name, table in miniapp_api.models.metadata.tables.items()
        if name == "residents" or "resident_id" in table.columns
    }
    for table, column, entry in personal_columns():
        if table in about_residents:
            assert Sensitive.MINOR in entry.sensitive, f"{table}.{column.name}"


def test_the_residents_identity_columns_are_personal() -> None:
    """A spot check of the classification itself, on the columns that matter most."""
    residents = _classified()["residents"]
    for name in ("id_enc", "id_index", "id_masked", "name_enc", "phone_enc", "birth_date"):
        assert isinstance(residents[name], Personal), name
    assert isinstance(_classified()["accounts"]["subject"], Personal)
    assert isinstance(_classified()["person_results"]["state"], Personal)


def _key_families(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        # An f-string's leading text is a Constant of its own: ast.walk reaches it too.
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and (match := _KEY_SHAPE.match(text)):
            found.add(match.group(1))
    return found


def test_every_redis_key_family_the_code_builds_is_listed() -> None:
    built: dict[str, list[str]] = {}
    for path in SOURCES:
        for family in _key_families(path):
            built.setdefault(family, []).append(str(path.relative_to(ROOT.parent)))
    # Session keys are "<namespace>:{...}": their families are the namespaces in use.
    default = inspect.signature(SessionStore).parameters["namespace"].default
    for namespace in (default, STAFF_NAMESPACE):
        built.setdefault(namespace, []).append("miniapp_api/sessions.py")
    for field in VIEW_FIELDS:
        built.pop(field, None)
    listed = {family.prefix for family in REDIS_FAMILIES}
    unlisted = {family: where for family, where in built.items() if family not in listed}
    assert unlisted == {}, "list these Redis key families in miniapp_api/privacy/redis_keys.py"
    assert sorted(listed - set(built)) == [], "listed but built nowhere"


def test_the_view_fields_are_fields_of_the_listed_view_hash() -> None:
    (view,) = [f for f in REDIS_FAMILIES if f.prefix == "view"]
    assert all(f"{field}:<resident>" in view.keys[0] for field in VIEW_FIELDS)


def test_the_scan_finds_key_shapes(tmp_path: Path) -> None:
    sample = 'a = f"view:{{{x}}}"\nb = "names:{readmodel}"\nc = f"x={y}"\nd = "mode:read"\n'
    path = tmp_path / "sample.py"
    path.write_text(sample, encoding="utf-8")
    assert _key_families(path) == {"view", "names"}
