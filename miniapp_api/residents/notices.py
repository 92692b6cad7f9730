"""What an account is told about its holdings: shown masked in ``GET /me``, newest first."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.residents.models import Notice, NoticeKind
from miniapp_api.residents.schemas import NoticeOut

SHOWN = 20


def tell(session: Session, account_ids: Iterable[int], kind: NoticeKind, name_masked: str) -> None:
    """Add one notice to each account (in the caller's transaction)."""
    for account_id in set(account_ids):
        session.add(Notice(account_id=account_id, kind=kind.value, name_masked=name_masked))


def recent(session: Session, account_id: int) -> list[NoticeOut]:
    query = (
        select(Notice)
        .where(Notice.account_id == account_id)
        .order_by(Notice.id.desc())
        .limit(SHOWN)
    )
    return [
        NoticeOut(kind=n.kind, name_masked=n.name_masked, at=n.created_at)  # type: ignore[arg-type]
        for n in session.scalars(query)
    ]
