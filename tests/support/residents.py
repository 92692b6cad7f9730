"""A resident using the mini-program through our API: login, consents, profile, phone, family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.legal.rendering import content_hash
from miniapp_api.residents.models import Account, Consent
from miniapp_api.security.session_tokens import account_hint
from miniapp_api.wiring import wiring_of
from tests.support.clients import BearerClient
from tests.support.phones import EmulatorPhone
from tests.support.sensitive import remember


@dataclass
class MiniProgramUser(BearerClient):
    """One platform login of a person, acting through the Flask test client."""

    phone: EmulatorPhone
    platform: str
    subject: str | None = None

    def login(self, *, consent: bool = True) -> TestResponse:
        """Log in; then, as the mini-programs ask at first launch, agree to the documents a
        sensitive write needs (``consent=False``: leave that to the test)."""
        if self.platform == "wechat":
            code, self.subject = self.phone.wechat_login(self.subject)
            response = self.client.post("/api/v1/auth/wechat", json={"code": code})
        else:
            code, self.subject = self.phone.alipay_login(self.subject)
            response = self.client.post("/api/v1/auth/alipay", json={"auth_code": code})
        self.logged_in(response)
        if consent and response.status_code == 200:
            for answer in self.consent():
                assert answer.status_code in (200, 201), answer.get_json()
            self.last = response
        return response

    def consent(self, *documents: str, version: str | None = None) -> list[TestResponse]:
        """Agree to ``documents`` (default: every one a sensitive write needs) at ``version``
        (default: each one's current version); the answers."""
        return [
            self.client.post(
                "/api/v1/me/consents",
                json={"document": name, "version": version or DOCUMENTS[name].version},
                headers=self.auth,
            )
            for name in documents or REQUIRED_FOR_SENSITIVE_DATA
        ]

    def withdraw(self, document: str) -> TestResponse:
        return self.client.delete(f"/api/v1/me/consents/{document}", headers=self.auth)

    def bind_phone(self, number: str) -> TestResponse:
        assert self.subject
        remember(number)
        if self.platform == "wechat":
            proof: dict[str, Any] = {"code": self.phone.wechat_phone_code(self.subject, number)}
        else:
            proof = {"response": self.phone.alipay_phone(self.subject, number)}
        return self.client.post("/api/v1/me/phone", json=proof, headers=self.auth)

    def register(self, name: str, id_number: str, phone: str = "13812345678") -> TestResponse:
        """Log in and bind ``phone`` (both must succeed), then declare oneself: the answer."""
        assert self.login().status_code == 200
        assert self.bind_phone(phone).status_code == 200
        return self.declare(name, id_number)

    def declare(self, name: str, id_number: str, id_type: str = "cn_id") -> TestResponse:
        remember(id_number)
        body = {"name": name, "id_type": id_type, "id_number": id_number}
        return self.client.put("/api/v1/me/profile", json=body, headers=self.auth)

    def is_really(self, name: str, id_number: str) -> None:
        """The platform's real-name record of this login says it is this person."""
        assert self.subject
        self.phone.set_real_identity(self.platform, self.subject, name, id_number)

    def real_name_proof(self, name: str, id_number: str) -> dict[str, str]:
        """Go through the platform's real-name page for ``name`` and ``id_number``: start the
        check with us, agree (WeChat) or show this login's face (Alipay); the proof it gives."""
        assert self.subject
        remember(id_number)
        body = {"name": name, "id_type": "cn_id", "id_number": id_number}
        started = self.client.post("/api/v1/me/real-name", json=body, headers=self.auth)
        assert started.status_code == 200, started.get_json()
        if self.platform == "wechat":
            return {"code": self.phone.wechat_real_name_code(self.subject)}
        certify_id = started.get_json()["certify_id"]
        self.phone.alipay_face_check(certify_id, self.subject)
        return {"certify_id": certify_id}

    def declare_verified(
        self, name: str, id_number: str, proof: dict[str, str] | None = None
    ) -> TestResponse:
        """Declare oneself with the platform's real-name check (a fresh proof unless given)."""
        remember(id_number)
        body = {
            "name": name,
            "id_type": "cn_id",
            "id_number": id_number,
            "real_name_proof": proof or self.real_name_proof(name, id_number),
        }
        return self.client.put("/api/v1/me/profile", json=body, headers=self.auth)

    def me(self) -> dict[str, Any]:
        response = self.client.get("/api/v1/me", headers=self.auth)
        assert response.status_code == 200, response.get_json()
        found: dict[str, Any] = response.get_json()
        return found

    def add_dependent(self, name: str, id_number: str, **extra: Any) -> TestResponse:
        remember(id_number)
        body = {"name": name, "id_type": "cn_id", "id_number": id_number, **extra}
        return self.client.post("/api/v1/me/dependents", json=body, headers=self.auth)


def logged_in(
    app: Flask, phone: EmulatorPhone, platform: str = "wechat", *, consent: bool = True
) -> MiniProgramUser:
    """A user of ``app`` on ``platform``, logged in (and consenting, unless ``consent`` is
    false: see :meth:`MiniProgramUser.login`)."""
    user = MiniProgramUser(app.test_client(), phone, platform)
    assert user.login(consent=consent).status_code == 200
    return user


def consented_quietly(app: Flask, user: MiniProgramUser) -> None:
    """Record the consents ``login()`` gives, straight in ``app``'s database: for tests whose
    request quotas leave no room for the three ``POST /me/consents`` (the rows are the ones
    those calls write)."""
    account_id = account_hint(user.token or "")
    with wiring_of(app).db.session() as session, session.begin():
        account = session.scalars(select(Account).where(Account.public_id == account_id)).one()
        for name in REQUIRED_FOR_SENSITIVE_DATA:
            session.add(
                Consent(
                    account_id=account.id,
                    kind=name,
                    document_version=DOCUMENTS[name].version,
                    document_sha256=content_hash(name),
                    channel=user.platform,
                )
            )
