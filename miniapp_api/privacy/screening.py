"""Tables of the screening itself: samplings, results, their delivery, labs, sites, tubes,
and the audit trail."""

from __future__ import annotations

from miniapp_api.privacy.columns import (
    DELIVERY,
    HEALTH,
    ID_NUMBER,
    KEY,
    NOTIFY,
    OPERATORS,
    PLATFORMS,
    RESULT_RETENTION,
    RESULTS,
    SAMPLING,
    SCREENING,
    SHOW_PERSON,
    STAFF,
    STAFF_LOGIN,
    STAFF_RETENTION,
    STATUS,
    WHEREABOUTS,
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
    Personal,
    Protection,
    Recipient,
    Text,
)

SAMPLINGS = Table(
    "samplings",
    Text("采样记录", "Samplings: a person sampled into a tube"),
    (
        Column("id", KEY),
        Column("round_id", link_to("screening_rounds")),
        # After an account deletion: minus the sampling's own id, nobody (rights/deletion.py).
        Column("resident_id", link_to("residents (no constraint; negative: anonymised)")),
        Column("tube_id", link_to("tubes")),
        Column(
            "site_id",
            # A foreign key, yet the site *is* where the person was: their whereabouts.
            of_resident(
                Category.LOCATION_TIME,
                SAMPLING,
                to=(STAFF,),
                bases=SCREENING,
                retention=RESULT_RETENTION,
                sensitive=(WHEREABOUTS,),
            ),
        ),
        Column("staff_id", link_to("staff")),
        Column(
            "code_id",
            of_resident(Category.SERVICE_ID, SAMPLING, bases=SCREENING, retention=RESULT_RETENTION),
        ),
        Column(
            "scanned_at",
            of_resident(
                Category.LOCATION_TIME,
                SAMPLING,
                to=(STAFF,),
                bases=SCREENING,
                retention=RESULT_RETENTION,
                sensitive=(WHEREABOUTS,),
            ),
        ),
        Column("created_at", made_at(RESULT_RETENTION, resident=True)),
    ),
)


def _health(purpose: Text, *, to: tuple[Recipient, ...] = ()) -> Personal:
    return of_resident(
        Category.HEALTH,
        purpose,
        to=to,
        bases=SCREENING,
        retention=RESULT_RETENTION,
        sensitive=(HEALTH,),
    )


PERSON_RESULTS = Table(
    "person_results",
    Text("每位受检人的结果", "Each person's result"),
    (
        Column("id", KEY),
        Column("sampling_id", link_to("samplings (no constraint)")),
        Column("resident_id", link_to("residents (a copy, no constraint; negative: anonymised)")),
        Column("tube_id", link_to("tubes (a copy, no constraint)")),
        Column("state", _health(RESULTS, to=PLATFORMS)),
        Column("tested_at", _health(RESULTS, to=PLATFORMS)),
        Column("updated_at", made_at(RESULT_RETENTION, resident=True)),
    ),
)

# A tube holds up to 20 people's swabs: its result is theirs through ``samplings``.
TUBE_RESULTS = Table(
    "tube_results",
    Text("实验室回传的采样管结果", "Tube results uploaded by the labs"),
    (
        Column("id", KEY),
        Column("tube_id", link_to("tubes")),
        Column("lab_id", link_to("labs")),
        Column("result", _health(RESULTS)),
        Column("tested_at", _health(RESULTS)),
        Column("received_at", made_at(RESULT_RETENTION, resident=True)),
    ),
)

TUBE_RESULT_AMENDMENTS = Table(
    "tube_result_amendments",
    Text("结果更正记录", "Amendments of tube results"),
    (
        Column("id", KEY),
        Column("tube_result_id", link_to("tube_results")),
        Column("previous_result", _health(RESULTS)),
        Column("new_result", _health(RESULTS)),
        Column("previous_tested_at", _health(RESULTS)),
        Column("reason", _health(RESULTS)),
        Column("amended_at", made_at(RESULT_RETENTION, resident=True)),
    ),
)

OUTBOX = Table(
    "outbox",
    Text("待推送的结果通知（仅存编号）", "Result notifications to send (ids only)"),
    (
        Column("id", KEY),
        Column("person_result_id", link_to("person_results (no constraint)")),
        Column("account_id", link_to("accounts (no constraint)")),
        Column("version", NotPersonal("which amendment of the result: a counter")),
        Column("status", STATUS),
        Column("attempts", STATUS),
        Column("next_attempt_at", STATUS),
        Column("claimed_until", STATUS),
        Column(
            "sent_at",
            of_resident(Category.ACTIVITY, NOTIFY, bases=(Basis.CONSENT,), retention=DELIVERY),
        ),
        Column(
            "platform_message_id",
            of_resident(
                Category.PLATFORM_ID,
                NOTIFY,
                to=PLATFORMS,
                bases=(Basis.CONSENT,),
                retention=DELIVERY,
            ),
        ),
        Column(
            "last_error",
            NotPersonal("the platform's error code and message; logged text is redacted"),
        ),
        Column("created_at", made_at(DELIVERY, resident=True)),
    ),
)

STAFF_TABLE = Table(
    "staff",
    Text("采样人员", "Sampling staff"),
    (
        Column("id", KEY),
        Column(
            "username",
            personal(
                Category.IDENTITY,
                STAFF_LOGIN,
                STAFF_RETENTION,
                bases=(Basis.HR_MANAGEMENT,),
                to=(OPERATORS,),
            ),
        ),
        Column(
            "password_hash",
            personal(
                Category.CREDENTIAL,
                STAFF_LOGIN,
                STAFF_RETENTION,
                bases=(Basis.HR_MANAGEMENT,),
                protection=Protection.HASHED,
            ),
        ),
        Column(
            "site_id",
            personal(
                Category.RELATIONSHIP,
                STAFF_LOGIN,
                STAFF_RETENTION,
                bases=(Basis.HR_MANAGEMENT,),
                to=(OPERATORS,),
            ),
        ),
        Column(
            "active",
            personal(Category.ACTIVITY, STAFF_LOGIN, STAFF_RETENTION, bases=(Basis.HR_MANAGEMENT,)),
        ),
        Column(
            "created_at",
            personal(Category.ACTIVITY, STAFF_LOGIN, STAFF_RETENTION, bases=(Basis.HR_MANAGEMENT,)),
        ),
    ),
)

SCAN_RECEIPTS = Table(
    "scan_receipts",
    Text("扫码应答（用于重发时返回同一应答）", "Answers given to staff scans, for re-sent scans"),
    (
        Column("id", KEY),
        Column("staff_id", link_to("staff")),
        Column("client_id", NotPersonal("the scanning device's random id of one scan item")),
        Column("status", STATUS),
        Column(
            "answer",
            # The answer shown to the staff member: the masked name and the ID's last four.
            of_resident(
                Category.IDENTITY,
                SHOW_PERSON,
                to=(STAFF,),
                bases=SCREENING,
                protection=Protection.MASKED,
                retention=RESULT_RETENTION,
                sensitive=(ID_NUMBER,),
            ),
        ),
        Column("created_at", made_at(RESULT_RETENTION)),
    ),
)

ORGANISATION = "describes an organisation or a screening round, not a person"

LABS = Table(
    "labs",
    Text("检测实验室", "Testing labs"),
    (
        Column("id", KEY),
        Column("lab_id", NotPersonal(ORGANISATION)),
        Column("name", NotPersonal(ORGANISATION)),
        Column("secret_enc", NotPersonal("the lab's upload secret (encrypted): an organisation's")),
        Column(
            "previous_secret_enc",
            NotPersonal("the lab's previous upload secret (encrypted), during a rotation"),
        ),
        Column("previous_secret_until", NotPersonal(ORGANISATION)),
        Column("created_at", NotPersonal(ORGANISATION)),
    ),
)

LAB_REQUESTS = Table(
    "lab_requests",
    Text("实验室上传请求的幂等记录", "Labs' idempotent upload requests"),
    (
        Column("id", KEY),
        Column("lab_id", link_to("labs")),
        Column("idempotency_key", NotPersonal("a lab's random request key")),
        Column("body_sha256", NotPersonal("hash of an upload body of tube numbers and results")),
        Column("status", STATUS),
        Column("response_status", STATUS),
        Column(
            "response",
            NotPersonal("the answer to the lab: counts and tube numbers, never a person"),
        ),
        Column("created_at", STATUS),
    ),
)

SCREENING_ROUNDS = Table(
    "screening_rounds",
    Text("筛查轮次", "Screening rounds"),
    (
        Column("id", KEY),
        Column("public_id", NotPersonal(ORGANISATION)),
        Column("name", NotPersonal(ORGANISATION)),
        Column("opened_at", NotPersonal(ORGANISATION)),
        Column("closed_at", NotPersonal(ORGANISATION)),
    ),
)

SITES = Table(
    "sites",
    Text("采样点", "Sampling sites"),
    (
        Column("id", KEY),
        Column("public_id", NotPersonal(ORGANISATION)),
        Column("name", NotPersonal(ORGANISATION)),
        Column("lab_id", link_to("labs")),
    ),
)

TUBES = Table(
    "tubes",
    Text("采样管", "Sample tubes"),
    (
        Column("id", KEY),
        # Printed on the tube and sent in result messages; it names a tube of up to 20 people,
        # who are found through samplings (classified there).
        Column("tube_no", NotPersonal("a container's number, shared by everyone in the tube")),
        Column("round_id", link_to("screening_rounds")),
        Column("site_id", link_to("sites")),
        Column("lab_id", link_to("labs")),
        Column("capacity", NotPersonal("how many swabs the tube takes")),
        Column("bound_count", NotPersonal("how many swabs it holds")),
        Column("opened_at", NotPersonal("when staff opened the tube")),
        Column("closed_at", NotPersonal("when staff closed the tube")),
    ),
)

AUDIT = Text(
    "记录工作人员和系统对个人信息的操作，供审计",
    "To keep an audit record of staff and system acts on personal data",
)
AUDIT_RETENTION = Text(
    "按审计要求保存（只可追加，不随账号注销删除，仅含假名编号）",
    "As the audit duty requires (append-only: kept after deletion, pseudonymous ids only)",
)


def _audit(category: Category) -> Personal:
    return personal(category, AUDIT, AUDIT_RETENTION, bases=(Basis.LEGAL_DUTY,), to=(OPERATORS,))


AUDIT_EVENTS = Table(
    "audit_events",
    Text("审计记录（哈希链）", "Audit events (a hash chain)"),
    (
        Column("id", KEY),
        Column("at", _audit(Category.ACTIVITY)),
        Column("actor_kind", NotPersonal("staff, operator, reviewer, account or system")),
        Column("actor", _audit(Category.SERVICE_ID)),
        Column("action", _audit(Category.ACTIVITY)),
        Column("object", _audit(Category.SERVICE_ID)),
        Column("request_id", NotPersonal("a random id of one HTTP request")),
        Column("prev_hash", NotPersonal("SHA-256 of the row before: the chain")),
        Column("hash", NotPersonal("SHA-256 of the row's fields and prev_hash")),
    ),
)

AUDIT_ANCHORS = Table(
    "audit_anchors",
    Text("审计链的起点（过期审计记录删除后）", "Where each audit chain starts after retention"),
    (
        Column("actor_kind", NotPersonal("staff, operator, reviewer, account or system")),
        Column("actor", _audit(Category.SERVICE_ID)),
        Column("last_id", NotPersonal("the id of the chain's last purged row")),
        Column("hash", NotPersonal("SHA-256 of the chain's last purged row")),
        Column("purged_before", NotPersonal("the retention cutoff of that purge")),
        Column("purged_at", NotPersonal("when that purge ran")),
    ),
)

RETENTION_PROGRESS = Table(
    "retention_progress",
    Text("定时删除的进度", "Where the retention purge's walks stopped"),
    (
        Column("walk", NotPersonal("the name of a walk, e.g. samplings")),
        Column("at", NotPersonal("the time column of the last row looked at")),
        Column("row_id", NotPersonal("the id of the last row looked at")),
    ),
)
