"""Reading and writing the encrypted personal fields of residents and accounts."""

from __future__ import annotations

import hmac
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.residents.identity import (
    IdDocument,
    clean_name,
    fold_name,
    mask_name,
    mask_phone,
)
from miniapp_api.residents.models import Resident
from miniapp_api.security.crypto import PersonalDataCrypto

ID_PURPOSE = "resident.id_number"
NAME_PURPOSE = "resident.name"
PHONE_PURPOSE = "phone"  # the same purpose for accounts and residents, so indexes compare
SESSION_KEY_PURPOSE = "account.session_key"  # WeChat's, kept for the legacy phone flow


class HasPhone(Protocol):
    phone_enc: bytes | None
    phone_index: str | None
    phone_masked: str | None


def id_index(crypto: PersonalDataCrypto, doc: IdDocument, *, sandbox: str | None = None) -> str:
    """The blind index of an ID number, as a row stores it. ``sandbox``: a review sandbox's
    namespace (``accounts.sandbox_scope``): what a reviewer types can neither find nor be found
    by the index of a real resident, nor another reviewer's."""
    return crypto.blind_index(ID_PURPOSE, id_subject(doc.id_type.value, doc.number, sandbox))


def id_subject(id_type: str, number: str, sandbox: str | None) -> str:
    """What the ID index is the HMAC of (``miniapp keys rotate`` recomputes it from a row)."""
    scope = f"sandbox:{sandbox}:" if sandbox is not None else ""
    return f"{scope}{id_type}:{number}"


def find_by_id(
    session: Session, crypto: PersonalDataCrypto, doc: IdDocument, *, sandbox: str | None = None
) -> Resident | None:
    """The resident with this ID number, whichever index key indexed them (while the index
    key rotates, rows not yet re-indexed still carry the old key's index)."""
    indexes = crypto.blind_indexes(ID_PURPOSE, id_subject(doc.id_type.value, doc.number, sandbox))
    return session.scalars(select(Resident).where(Resident.id_index.in_(indexes))).one_or_none()


def normalize_name(name: str) -> str:
    """The form two names compare in (stored ones too, which may predate the checks)."""
    return fold_name(name).casefold()


def new_resident(
    crypto: PersonalDataCrypto, doc: IdDocument, name: str, *, sandbox: str | None = None
) -> Resident:
    """A new resident; made in a review sandbox (``sandbox``), it is flagged synthetic."""
    resident = Resident(
        id_type=doc.id_type.value, birth_date=doc.birth_date, synthetic=sandbox is not None
    )
    set_identity(resident, crypto, doc, name, sandbox=sandbox)
    return resident


def set_identity(
    resident: Resident,
    crypto: PersonalDataCrypto,
    doc: IdDocument,
    name: str,
    *,
    sandbox: str | None = None,
) -> None:
    resident.id_type = doc.id_type.value
    resident.id_index = id_index(crypto, doc, sandbox=sandbox)
    resident.id_enc = crypto.encrypt(ID_PURPOSE, doc.number)
    resident.id_masked = doc.masked
    resident.birth_date = doc.birth_date or resident.birth_date
    set_name(resident, crypto, name)


def set_name(resident: Resident, crypto: PersonalDataCrypto, name: str) -> None:
    # PersonIn refused a bad name with a 422 already; here it would be our bug (a ValueError).
    clean = clean_name(name)
    resident.name_enc = crypto.encrypt(NAME_PURPOSE, clean)
    resident.name_masked = mask_name(clean)


def name_matches(resident: Resident, crypto: PersonalDataCrypto, name: str) -> bool:
    stored = normalize_name(crypto.decrypt(NAME_PURPOSE, resident.name_enc))
    return hmac.compare_digest(stored.encode(), normalize_name(name).encode())


def phone_index(crypto: PersonalDataCrypto, phone: str) -> str:
    return crypto.blind_index(PHONE_PURPOSE, phone)


def set_phone(target: HasPhone, crypto: PersonalDataCrypto, phone: str) -> None:
    target.phone_enc = crypto.encrypt(PHONE_PURPOSE, phone)
    target.phone_index = phone_index(crypto, phone)
    target.phone_masked = mask_phone(phone)


def same_phone(crypto: PersonalDataCrypto, one: HasPhone, other: HasPhone) -> bool:
    """Whether both have a phone and it is the same. Equal indexes say so at once; different
    ones may be one phone under two index keys (a rotation under way), so the phones are
    decrypted and compared."""
    if one.phone_index is None or other.phone_index is None:
        return False
    if one.phone_index == other.phone_index:
        return True
    if one.phone_enc is None or other.phone_enc is None:
        return False
    mine = crypto.decrypt(PHONE_PURPOSE, one.phone_enc).encode()
    theirs = crypto.decrypt(PHONE_PURPOSE, other.phone_enc).encode()
    return hmac.compare_digest(mine, theirs)


def copy_phone(source: HasPhone, target: HasPhone) -> None:
    target.phone_enc = source.phone_enc
    target.phone_index = source.phone_index
    target.phone_masked = source.phone_masked
