"""The published versions: which SHA-256 each document's version was published with.

``published.json`` maps ``{document: {version: sha256}}`` and only grows: a version, once
published, names one text forever (consents cite it). ``tests/integration/legal`` fails when a
page renders to another hash under a version already recorded (bump the version in
``documents.py``) or when the current version is not recorded yet (record it:
``miniapp legal hashes --record``, or ``python -m miniapp_api.legal.published --record``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.legal.rendering import content_hash

PUBLISHED = Path(__file__).resolve().with_name("published.json")


@dataclass(frozen=True)
class Status:
    name: str
    version: str
    sha256: str  # what the page renders to now
    recorded: str | None  # what published.json holds for this version, if anything

    @property
    def state(self) -> str:
        if self.recorded is None:
            return "new"
        return "published" if self.recorded == self.sha256 else "changed"


def load(path: Path = PUBLISHED) -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def statuses(path: Path = PUBLISHED) -> list[Status]:
    """Every document at its current version, against the record."""
    published = load(path)
    return [
        Status(
            d.name,
            d.version,
            content_hash(d.name),
            published.get(d.name, {}).get(d.version),
        )
        for d in DOCUMENTS.values()
    ]


class ChangedWithoutNewVersion(RuntimeError):
    pass


def record(path: Path = PUBLISHED) -> list[Status]:
    """Add the current versions not recorded yet; refuse (and write nothing) when a recorded
    version now renders to another hash. Returns the statuses before recording."""
    found = statuses(path)
    changed = [s for s in found if s.state == "changed"]
    if changed:
        raise ChangedWithoutNewVersion(changed_message(changed))
    published = load(path)
    for status in found:
        published.setdefault(status.name, {})[status.version] = status.sha256
    path.write_text(
        json.dumps(published, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return found


def changed_message(changed: list[Status]) -> str:
    names = ", ".join(f"{s.name} {s.version}" for s in changed)
    return (
        f"the text of {names} changed but its version did not: bump the version in "
        "miniapp_api/legal/documents.py and record the new hash "
        "(miniapp legal hashes --record)"
    )


def main(argv: list[str]) -> int:
    """Print each document's version, hash and state; ``--record`` also records new ones."""
    try:
        found = record() if "--record" in argv else statuses()
    except ChangedWithoutNewVersion as error:
        print(error, file=sys.stderr)
        return 1
    for status in found:
        print(f"{status.name:16} {status.version:12} {status.sha256} {status.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
