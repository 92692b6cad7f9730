"""Tables about people and their logins: accounts, residents, links, consents, staff."""

from __future__ import annotations

from miniapp_api.privacy.columns import (
    AGE_RULES,
    CODE,
    CONSENTS,
    FIND_PERSON,
    HOLD,
    ID_NUMBER,
    KEY,
    LOGIN,
    NOTIFY,
    PENDING_REQUEST,
    PHONE,
    PLATFORMS,
    SHOW_PERSON,
    STAFF,
    STATUS,
    UNTIL_DELETED,
    USER,
    WECHAT,
    WITH_PERSON,
    Column,
    Table,
    link_to,
    made_at,
    of_resident,
    personal,
)
from miniapp_api.privacy.terms import (
    Basis,
    Category,
    NotPersonal,
    Protection,
    Text,
)

ACCOUNTS = Table(
    "accounts",
    Text("小程序登录（微信或支付宝）", "Mini-program logins (WeChat or Alipay)"),
    (
        Column("id", KEY),
        Column(
            "public_id",
            personal(Category.SERVICE_ID, LOGIN, UNTIL_DELETED, bases=USER),
        ),
        Column("platform", NotPersonal("which platform: WeChat or Alipay, one of two values")),
        Column("app_id", NotPersonal("our mini-program's app id on that platform")),
        Column(
            "subject",
            personal(Category.PLATFORM_ID, LOGIN, UNTIL_DELETED, bases=USER, to=PLATFORMS),
        ),
        Column(
            "unionid",
            personal(Category.PLATFORM_ID, LOGIN, UNTIL_DELETED, bases=USER, to=(WECHAT,)),
        ),
        Column(
            "session_key_enc",
            personal(
                Category.PLATFORM_ID,
                Text("解密微信旧版手机号数据", "To decrypt WeChat's legacy phone-number data"),
                UNTIL_DELETED,
                bases=USER,
                protection=Protection.ENCRYPTED,
            ),
        ),
        Column(
            "phone_enc",
            personal(
                Category.CONTACT, PHONE, UNTIL_DELETED, bases=USER, protection=Protection.ENCRYPTED
            ),
        ),
        Column(
            "phone_index",
            personal(
                Category.CONTACT,
                PHONE,
                UNTIL_DELETED,
                bases=USER,
                protection=Protection.BLIND_INDEX,
            ),
        ),
        Column(
            "phone_masked",
            personal(
                Category.CONTACT, PHONE, UNTIL_DELETED, bases=USER, protection=Protection.MASKED
            ),
        ),
        Column("created_at", made_at(UNTIL_DELETED)),
        Column("last_login_at", made_at(UNTIL_DELETED)),
    ),
)

RESIDENTS = Table(
    "residents",
    Text("受检人（自然人）", "Residents: the people screened"),
    (
        Column("id", KEY),
        Column(
            "public_id",
            of_resident(Category.SERVICE_ID, FIND_PERSON, to=(STAFF,)),
        ),
        Column(
            "id_type",
            of_resident(Category.ID_DOCUMENT, FIND_PERSON, sensitive=(ID_NUMBER,)),
        ),
        Column(
            "id_index",
            of_resident(
                Category.ID_DOCUMENT,
                FIND_PERSON,
                protection=Protection.BLIND_INDEX,
                sensitive=(ID_NUMBER,),
            ),
        ),
        Column(
            "id_enc",
            # Sent, with the name, to the platform's real-name check (residents/realname.py).
            of_resident(
                Category.ID_DOCUMENT,
                FIND_PERSON,
                to=PLATFORMS,
                protection=Protection.ENCRYPTED,
                sensitive=(ID_NUMBER,),
            ),
        ),
        Column(
            "id_masked",
            # Sampling staff see its last four characters when a scan needs a second look.
            of_resident(
                Category.ID_DOCUMENT,
                SHOW_PERSON,
                to=(STAFF,),
                protection=Protection.MASKED,
                sensitive=(ID_NUMBER,),
            ),
        ),
        Column(
            "name_enc",
            of_resident(
                Category.IDENTITY, FIND_PERSON, to=PLATFORMS, protection=Protection.ENCRYPTED
            ),
        ),
        Column(
            "name_masked",
            of_resident(
                Category.IDENTITY,
                SHOW_PERSON,
                to=(*PLATFORMS, STAFF),
                protection=Protection.MASKED,
            ),
        ),
        Column(
            "phone_enc",
            of_resident(Category.CONTACT, PHONE, protection=Protection.ENCRYPTED),
        ),
        Column(
            "phone_index",
            of_resident(Category.CONTACT, PHONE, protection=Protection.BLIND_INDEX),
        ),
        Column(
            "phone_masked",
            of_resident(Category.CONTACT, PHONE, protection=Protection.MASKED),
        ),
        Column("birth_date", of_resident(Category.IDENTITY, AGE_RULES)),
        Column(
            "synthetic",
            NotPersonal("made by review mode from the reserved range: marks a record as no person"),
        ),
        Column("created_at", made_at(WITH_PERSON, resident=True)),
        Column("updated_at", made_at(WITH_PERSON, resident=True)),
    ),
)

ACCOUNT_RESIDENTS = Table(
    "account_residents",
    Text("登录与受检人的代办关系", "Which logins hold which residents"),
    (
        Column("id", KEY),
        Column("public_id", of_resident(Category.SERVICE_ID, HOLD)),
        Column("account_id", link_to("accounts")),
        Column("resident_id", link_to("residents")),
        Column("relation", of_resident(Category.RELATIONSHIP, HOLD)),
        Column("verified_at", of_resident(Category.RELATIONSHIP, HOLD)),
        Column("proxy_reason", of_resident(Category.RELATIONSHIP, AGE_RULES)),
        Column("created_at", made_at(WITH_PERSON, resident=True)),
    ),
)

CONSENTS_TABLE = Table(
    "consents",
    Text("同意记录", "Consents given"),
    (
        Column("id", KEY),
        Column("account_id", link_to("accounts")),
        Column("resident_id", link_to("residents")),
        Column(
            "kind",
            of_resident(
                Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,), retention=WITH_PERSON
            ),
        ),
        Column(
            "document_version",
            of_resident(Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,)),
        ),
        Column(
            "document_sha256", of_resident(Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,))
        ),
        Column("channel", of_resident(Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,))),
        Column("given_at", of_resident(Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,))),
        Column("withdrawn_at", of_resident(Category.CONSENT, CONSENTS, bases=(Basis.LEGAL_DUTY,))),
    ),
)

LINK_REQUESTS = Table(
    "link_requests",
    Text("代办申请", "Requests to hold an existing person's record"),
    (
        Column("id", KEY),
        Column("public_id", of_resident(Category.SERVICE_ID, HOLD, retention=PENDING_REQUEST)),
        Column("requester_id", link_to("accounts")),
        Column("resident_id", link_to("residents")),
        Column(
            "name_masked",
            of_resident(
                Category.IDENTITY, HOLD, protection=Protection.MASKED, retention=PENDING_REQUEST
            ),
        ),
        Column("proxy_reason", of_resident(Category.RELATIONSHIP, HOLD, retention=PENDING_REQUEST)),
        Column("approvable", of_resident(Category.RELATIONSHIP, HOLD, retention=PENDING_REQUEST)),
        Column("status", of_resident(Category.RELATIONSHIP, HOLD, retention=PENDING_REQUEST)),
        Column("created_at", made_at(PENDING_REQUEST, resident=True)),
        Column("expires_at", made_at(PENDING_REQUEST, resident=True)),
        Column("decided_at", made_at(PENDING_REQUEST, resident=True)),
    ),
)

NOTICES = Table(
    "notices",
    Text("家庭成员变动通知", "Notices about an account's family links"),
    (
        Column("id", KEY),
        Column("account_id", link_to("accounts")),
        Column("kind", of_resident(Category.RELATIONSHIP, NOTIFY, retention=UNTIL_DELETED)),
        Column(
            "name_masked",
            of_resident(
                Category.IDENTITY,
                NOTIFY,
                to=PLATFORMS,
                protection=Protection.MASKED,
                retention=UNTIL_DELETED,
            ),
        ),
        Column("push_status", STATUS),
        Column("push_attempts", STATUS),
        Column("push_after", STATUS),
        Column("created_at", made_at(UNTIL_DELETED, resident=True)),
    ),
)

REGISTRATION_CODES = Table(
    "registration_codes",
    Text(
        "登记码签发记录（不保存码本身）", "Registration codes issued (the code itself is not kept)"
    ),
    (
        Column("id", KEY),
        Column("code_id", of_resident(Category.SERVICE_ID, CODE, to=(STAFF,))),
        Column("resident_id", link_to("residents")),
        Column("kid", NotPersonal("id of the signing key: the same for every code of a period")),
        Column("issued_at", made_at(WITH_PERSON, resident=True)),
        Column("expires_at", made_at(WITH_PERSON, resident=True)),
        Column("revoked_at", made_at(WITH_PERSON, resident=True)),
    ),
)

SUBSCRIPTIONS = Table(
    "subscriptions",
    Text("消息订阅次数", "Accepted one-time message subscriptions"),
    (
        Column("id", KEY),
        Column("account_id", link_to("accounts")),
        Column("template_id", NotPersonal("our message template's id, the same for everyone")),
        Column(
            "remaining",
            personal(Category.ACTIVITY, NOTIFY, UNTIL_DELETED, bases=(Basis.CONSENT,)),
        ),
        Column("updated_at", made_at(UNTIL_DELETED)),
    ),
)
