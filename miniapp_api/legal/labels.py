"""Who we are, who the service is for, and the inventory's vocabulary in words a reader
understands (zh and en): categories, sensitive kinds, protections and the parties that receive
data.

The operator's name and contact are placeholders, kept here and nowhere else: set them before
publishing and bump the version of every document (``documents.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import Category, Protection, Recipient, Sensitive, Text


@dataclass(frozen=True)
class Operator:
    """The personal information handler (个人信息处理者) the pages name."""

    name: Text
    contact: Text
    service: Text


OPERATOR = Operator(
    name=Text("【运营单位名称】", "[Operator's name]"),
    contact=Text(
        "【个人信息保护负责人联系电话、电子邮箱和通信地址】",
        "[Telephone, e-mail and postal address of the person in charge of personal information]",
    ),
    service=Text("本市核酸筛查登记服务", "The city's nucleic-acid screening registration service"),
)

AUDIENCE = Text(
    "适用人群：本服务仅面向参加本市核酸筛查的人员，供其为本人登记，或为其可代办的家庭成员登记。"
    "不满十四周岁的儿童只能由其监护人代为登记。",
    "Who this service is for: people registering for the city's screening, themselves or the "
    "family members they may act for. Children under 14 are registered only by a guardian.",
)

CATEGORIES: dict[Category, Text] = {
    Category.IDENTITY: Text("身份信息（姓名、出生日期）", "Identity (name, birth date)"),
    Category.ID_DOCUMENT: Text("证件信息（证件类型和号码）", "ID document (type and number)"),
    Category.CONTACT: Text("联系方式（手机号）", "Contact (mobile number)"),
    Category.HEALTH: Text("健康信息（核酸检测结果）", "Health (test results)"),
    Category.LOCATION_TIME: Text(
        "行踪信息（采样地点和时间）", "Whereabouts (where and when sampled)"
    ),
    Category.PLATFORM_ID: Text(
        "平台标识（openid、unionid、支付宝用户号、session_key）",
        "Platform identifiers (openid, unionid, Alipay user id, session_key)",
    ),
    Category.SERVICE_ID: Text("本服务的假名编号", "This service's pseudonymous ids"),
    Category.RELATIONSHIP: Text("代办关系（家庭成员）", "Proxy relationships (family members)"),
    Category.CONSENT: Text("同意记录", "Consent records"),
    Category.ACTIVITY: Text("操作时间记录", "Times of activity"),
    Category.CREDENTIAL: Text("工作人员登录凭证", "Staff sign-in credentials"),
    Category.NETWORK: Text("网络地址（IP 地址或网段）", "Network address (IP address or network)"),
}

SENSITIVE: dict[Sensitive, Text] = {
    Sensitive.ID_NUMBER: Text("特定身份（证件号码）", "Specific identity (ID numbers)"),
    Sensitive.HEALTH: Text("医疗健康（检测结果）", "Medical health (test results)"),
    Sensitive.WHEREABOUTS: Text(
        "行踪轨迹（采样地点和时间）", "Whereabouts (where and when sampled)"
    ),
    Sensitive.MINOR: Text(
        "可能属于不满十四周岁未成年人的个人信息",
        "May be the personal information of a child under 14",
    ),
}

PROTECTIONS: dict[Protection, Text] = {
    Protection.ENCRYPTED: Text("加密存储（AES-GCM）", "Encrypted at rest (AES-GCM)"),
    Protection.BLIND_INDEX: Text(
        "仅存密钥哈希（可查找、不可还原）", "A keyed hash only (findable, not readable)"
    ),
    Protection.HASHED: Text("单向哈希", "A one-way hash"),
    Protection.MASKED: Text("脱敏副本", "A masked copy"),
    Protection.PLAIN: Text("访问控制", "Access control"),
}


@dataclass(frozen=True)
class Party:
    """Someone besides the service who receives personal information, and in what role."""

    name: Text
    role: Text
    why: Text


PARTIES: dict[Recipient, Party] = {
    Recipient.WECHAT: Party(
        Text("微信（深圳市腾讯计算机系统有限公司）", "WeChat (Tencent)"),
        Text(
            "微信小程序平台：提供登录、手机号验证、实名校验和订阅消息",
            "The WeChat mini-program platform: login, phone number, real-name check, messages",
        ),
        Text(
            "您通过微信使用本服务时，由微信完成登录、核验手机号和实名，并向您推送您订阅的通知",
            "When you use the service in WeChat, WeChat signs you in, verifies your phone and "
            "real name, and delivers the notifications you subscribed to",
        ),
    ),
    Recipient.ALIPAY: Party(
        Text("支付宝（支付宝（中国）网络技术有限公司，蚂蚁集团）", "Alipay (Ant Group)"),
        Text(
            "支付宝小程序平台：提供登录、手机号、身份核验（刷脸）和消息推送",
            "The Alipay mini-program platform: login, phone number, identity check (face), "
            "messages",
        ),
        Text(
            "您通过支付宝使用本服务时，由支付宝完成登录、核验手机号和身份，并向您推送您订阅的通知",
            "When you use the service in Alipay, Alipay signs you in, verifies your phone and "
            "identity, and delivers the notifications you subscribed to",
        ),
    ),
    Recipient.LABS: Party(
        Text("检测实验室", "Testing laboratories"),
        Text("检测采样管并按管号上传结果", "They test the tubes and upload results by tube number"),
        Text(
            "实验室只按采样管编号工作：本服务不向实验室提供姓名、证件号或手机号",
            "Labs work by tube number only: we give them no names, ID or phone numbers",
        ),
    ),
    Recipient.SAMPLING_STAFF: Party(
        Text("采样点工作人员", "Sampling staff"),
        Text("在采样点扫描登记码、装管", "They scan registration codes at the site and fill tubes"),
        Text(
            "扫码时核对受检人：只显示脱敏姓名和证件号后四位，并记录采样时间和地点",
            "To check the person at the scan: they see only the masked name and the ID "
            "number's last four characters, and the time and site are recorded",
        ),
    ),
    Recipient.OPERATORS: Party(
        Text("本服务的运维人员", "The service's operators"),
        Text(
            "管理采样人员账号、查看审计记录", "They manage staff accounts and read the audit trail"
        ),
        Text(
            "维持服务运行、追溯对个人信息的操作；审计记录只含假名编号",
            "To run the service and trace acts on personal data; audit records hold "
            "pseudonymous ids only",
        ),
    ),
}
