"""The platforms' real-name checks: is this name and mainland ID number the person behind
this login?

WeChat's city service (``checkrealnameinfo``) answers for the login's openid with a ``code``
the consent page gave the mini-program. Alipay's identity certification answers for a
``certify_id`` that we start with the name and ID number and the person completes with a face
check: nothing in Alipay's answer ties the certify_id to the login or the claim, so this
module does. :func:`start` keeps a binding of (account, ID, name) under the certify_id in
Redis for the certify_id's life (23 hours), and :func:`confirms` refuses a certify_id bound to
anything else, then spends it.

The platform is called outside any database transaction: no row lock is held across HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import date

import redis
from sqlalchemy.orm import Session

from channels.base import LoginChannel, RealNameClaim, RealNameVerdict
from miniapp_api.errors import ValidationFailed
from miniapp_api.residents.accounts import load_account
from miniapp_api.residents.consents import require_for_sensitive_data
from miniapp_api.residents.identity import IdDocument, IdType, parse_document
from miniapp_api.residents.records import normalize_name
from miniapp_api.residents.schemas import PersonIn, RealNameStartOut
from miniapp_api.security.crypto import PersonalDataCrypto

BINDING_PURPOSE = "realname.binding"
BINDING_SECONDS = 23 * 3600  # Alipay's certify_id is valid 23 hours


def start(
    session: Session,
    account_id: str,
    *,
    person: PersonIn,
    channel: LoginChannel,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
    today: date,
) -> RealNameStartOut:
    """What the mini-program needs to show the platform's real-name page for ``person``
    (it sends the ID number to the platform: the consents of
    :func:`~.consents.require_for_sensitive_data` first)."""
    require_for_sensitive_data(session, account_id)
    doc = parse_document(person.id_type, person.id_number, today)
    claim = claim_of(doc, person.name)
    with session.begin():
        subject = load_account(session, account_id).subject
    started = channel.start_real_name_check(subject, claim, secrets.token_hex(16))
    if started.certify_id is not None:
        binding = _binding(crypto, account_id, doc, person.name)
        client.set(_binding_key(started.certify_id), binding, ex=BINDING_SECONDS)
    return RealNameStartOut(
        platform=started.platform.value,
        certify_id=started.certify_id,
        mini_program_app_id=started.mini_program_app_id,
        mini_program_path=started.mini_program_path,
    )


def confirms(
    session: Session,
    account_id: str,
    *,
    doc: IdDocument,
    name: str,
    proof: Mapping[str, str],
    channel: LoginChannel,
    crypto: PersonalDataCrypto,
    client: redis.Redis,
) -> bool:
    """True if the platform vouches that ``name`` and ``doc`` are the person behind the login."""
    claim = claim_of(doc, name)
    with session.begin():
        subject = load_account(session, account_id).subject
    key = None
    if "certify_id" in proof:
        key = _binding_key(proof["certify_id"])
        bound = client.get(key)
        # Any index key: the index key may have rotated since the check started.
        expected = _bindings(crypto, account_id, doc, name)
        if not isinstance(bound, bytes) or not any(hmac.compare_digest(bound, e) for e in expected):
            return False
    verdict = channel.check_real_name(subject, claim, proof)
    if verdict is not RealNameVerdict.MATCH:
        return False
    if key is not None:
        client.delete(key)  # one certification, one use
    return True


def claim_of(doc: IdDocument, name: str) -> RealNameClaim:
    """The claim to put to a platform; both check mainland ID cards only."""
    if doc.id_type is not IdType.CN_ID:
        raise ValidationFailed(
            "The platforms' real-name checks cover mainland resident ID cards only.",
            code="real_name_unsupported",
            detail=[{"field": "id_type", "problem": "must be cn_id for a real-name check"}],
        )
    return RealNameClaim(name=" ".join(name.split()), id_number=doc.number)


def _binding_key(certify_id: str) -> str:
    digest = hashlib.sha256(certify_id.encode()).hexdigest()[:32]
    return f"realname:{{{digest}}}"


def _binding(crypto: PersonalDataCrypto, account_id: str, doc: IdDocument, name: str) -> str:
    return crypto.blind_index(BINDING_PURPOSE, _binding_subject(account_id, doc, name))


def _bindings(
    crypto: PersonalDataCrypto, account_id: str, doc: IdDocument, name: str
) -> list[bytes]:
    subject = _binding_subject(account_id, doc, name)
    return [index.encode() for index in crypto.blind_indexes(BINDING_PURPOSE, subject)]


def _binding_subject(account_id: str, doc: IdDocument, name: str) -> str:
    return f"{account_id}|{doc.id_type.value}:{doc.number}|{normalize_name(name)}"
