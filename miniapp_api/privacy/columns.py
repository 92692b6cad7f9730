"""The building blocks of the inventory's tables: columns, the shared texts, helpers."""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import (
    Basis,
    Category,
    NotPersonal,
    Personal,
    Protection,
    Recipient,
    Sensitive,
    Text,
    Use,
)


@dataclass(frozen=True)
class Column:
    name: str
    use: Use


@dataclass(frozen=True)
class Table:
    name: str
    about: Text
    columns: tuple[Column, ...]


def personal(
    category: Category,
    purpose: Text,
    retention: Text,
    *,
    bases: tuple[Basis, ...],
    to: tuple[Recipient, ...] = (),
    protection: Protection = Protection.PLAIN,
    sensitive: tuple[Sensitive, ...] = (),
) -> Personal:
    return Personal(
        category, purpose, bases, retention, frozenset(to), protection, frozenset(sensitive)
    )


KEY = NotPersonal("surrogate key: never leaves the database")
STATUS = NotPersonal("processing state of the row, says nothing about a person")


def link_to(table: str) -> NotPersonal:
    return NotPersonal(f"foreign key to {table}: what it reaches is classified there")


WECHAT, ALIPAY = Recipient.WECHAT, Recipient.ALIPAY
STAFF, OPERATORS = Recipient.SAMPLING_STAFF, Recipient.OPERATORS
PLATFORMS = (WECHAT, ALIPAY)
MINOR, ID_NUMBER = Sensitive.MINOR, Sensitive.ID_NUMBER
HEALTH, WHEREABOUTS = Sensitive.HEALTH, Sensitive.WHEREABOUTS
USER = (Basis.CONTRACT,)
PERSON = (Basis.PUBLIC_HEALTH, Basis.SEPARATE_CONSENT, Basis.GUARDIAN_CONSENT)
SCREENING = (Basis.PUBLIC_HEALTH, Basis.LEGAL_DUTY)

# Purposes.
LOGIN = Text(
    "识别您的小程序登录，维持登录状态",
    "To recognise your mini-program login and keep you signed in",
)
PHONE = Text(
    "经平台核验的手机号，用于认领本人档案和找回档案",
    "The platform-verified phone number, to claim and find your own record",
)
FIND_PERSON = Text(
    "按证件号唯一识别受检人、核验实名，避免重复建档",
    "To identify each person by ID number, check their real name, and keep one record each",
)
SHOW_PERSON = Text(
    "在页面、采样扫码和结果通知中显示（已脱敏）",
    "Shown masked on your screens, to sampling staff when scanning, and in result notifications",
)
AGE_RULES = Text(
    "判断代办规则（未成年人、老年人）和监护人同意",
    "To apply the proxy rules (minors, the elderly) and ask for a guardian's consent",
)
HOLD = Text(
    "记录哪个登录可以为哪位受检人代办（家庭成员）",
    "To record which logins may act for which person (family members)",
)
CONSENTS = Text("证明您作出的同意及其文本版本", "To prove the consents you gave and to which text")
CODE = Text(
    "签发采样用的登记码，并可作废重签",
    "To issue the registration code shown at sampling, and revoke or re-issue it",
)
SAMPLING = Text(
    "记录谁在何时、何地被采入哪支采样管",
    "To record who was sampled into which tube, where and when",
)
RESULTS = Text(
    "向本人及其代办人提供核酸检测结果",
    "To give each person, and those acting for them, their test results",
)
NOTIFY = Text(
    "按您的订阅推送结果和家庭成员变动通知",
    "To send the result and family notifications you subscribed to",
)
STAFF_LOGIN = Text(
    "采样人员登录和按站点管理", "Sampling staff sign-in and their assignment to a site"
)
ACTIVITY = Text(
    "记录创建和更新时间，用于排查问题和执行保存期限",
    "When a record was made or changed: for support and to apply retention",
)

# Retention.
UNTIL_DELETED = Text("保存至账号注销", "Until the account is deleted (注销)")
WITH_PERSON = Text(
    "保存至最后一个持有该人员的账号注销时删除；其检测结果此后以不可识别身份的形式保存至结果保存期届满",
    "Until the last login holding the person is deleted (注销); their results are then kept "
    "without identity until the results' retention period ends",
)
RESULT_RETENTION = Text(
    "按卫生健康部门规定的筛查记录保存期限保存，期满由定时任务删除",
    "For the screening-record retention period the health authority sets, then purged",
)
PENDING_REQUEST = Text(
    "至申请被处理或过期（7天），随申请人账号删除",
    "Until answered or lapsed (7 days); erased with the requesting account",
)
STAFF_RETENTION = Text(
    "在岗期间保存，停用后随人员档案删除",
    "While the staff member works here; erased with their staff record",
)
DELIVERY = Text(
    "随所通知的结果一并删除",
    "Erased with the result the message announces",
)


def of_resident(
    category: Category,
    purpose: Text,
    *,
    to: tuple[Recipient, ...] = (),
    protection: Protection = Protection.PLAIN,
    sensitive: tuple[Sensitive, ...] = (),
    bases: tuple[Basis, ...] = PERSON,
    retention: Text = WITH_PERSON,
) -> Personal:
    """Personal data of a resident: may be a child's, so always sensitive."""
    return personal(
        category,
        purpose,
        retention,
        bases=bases,
        to=to,
        protection=protection,
        sensitive=(MINOR, *sensitive),
    )


def made_at(retention: Text, *, resident: bool = False) -> Personal:
    if resident:
        return of_resident(Category.ACTIVITY, ACTIVITY, retention=retention)
    return personal(Category.ACTIVITY, ACTIVITY, retention, bases=USER)
