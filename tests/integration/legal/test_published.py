"""``miniapp_api/legal/published.json``: a published version names one text forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miniapp_api.legal import published
from miniapp_api.legal.documents import DOCUMENTS


def test_every_current_version_is_published_with_the_hash_its_page_has_now() -> None:
    found = published.statuses()

    changed = [s for s in found if s.state == "changed"]
    assert not changed, published.changed_message(changed)
    new = [f"{s.name} {s.version}" for s in found if s.state == "new"]
    assert not new, (
        f"{', '.join(new)} not recorded in miniapp_api/legal/published.json: "
        "run `miniapp legal hashes --record`"
    )


def test_recording_adds_new_versions_and_refuses_a_changed_text(tmp_path: Path) -> None:
    record = tmp_path / "published.json"
    record.write_text("{}")

    published.record(record)
    first = json.loads(record.read_text())
    assert set(first) == set(DOCUMENTS)
    assert all(s.state == "published" for s in published.statuses(record))

    name = "privacy"
    version = DOCUMENTS[name].version
    record.write_text(json.dumps({**first, name: {version: "0" * 64, "2000-01-01": "1" * 64}}))
    with pytest.raises(published.ChangedWithoutNewVersion, match="bump the version"):
        published.record(record)
    assert json.loads(record.read_text())[name]["2000-01-01"] == "1" * 64, "nothing rewritten"
