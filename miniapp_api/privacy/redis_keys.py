"""Every Redis key family the service writes: what it holds, for how long, and why.

``prefix`` is the text before the key's first ``:``; the tests scan the source for the key
shapes the code builds and fail on a family missing here (or listed here and built nowhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import (
    Basis,
    Category,
    NotPersonal,
    Personal,
    Protection,
    Sensitive,
    Text,
)


@dataclass(frozen=True)
class RedisFamily:
    prefix: str
    keys: tuple[str, ...]  # the shapes of its keys
    purpose: Text
    ttl: Text
    holds: Personal | NotPersonal


def _cached(
    category: Category,
    purpose: Text,
    ttl: Text,
    *,
    bases: tuple[Basis, ...] = (Basis.CONTRACT,),
    protection: Protection = Protection.PLAIN,
    sensitive: tuple[Sensitive, ...] = (),
) -> Personal:
    return Personal(category, purpose, bases, ttl, frozenset(), protection, frozenset(sensitive))


def _family(
    prefix: str, keys: tuple[str, ...], purpose: Text, ttl: Text, holds: Personal | NotPersonal
) -> RedisFamily:
    return RedisFamily(prefix, keys, purpose, ttl, holds)


SESSION = Text("登录会话", "Sign-in sessions")
QUOTA = Text("限流，保护服务不被过载或猜测", "Rate limits: against overload and guessing")
SCREENS = Text(
    "缓存结果和登记码页面，高峰时快速应答",
    "Cached result and code screens, to answer fast on a busy morning",
)
MINUTES_2 = Text("最多约2分钟", "At most about 2 minutes")
SCREENING = (Basis.PUBLIC_HEALTH, Basis.SEPARATE_CONSENT, Basis.GUARDIAN_CONSENT)
SCREEN_DATA = (Sensitive.MINOR, Sensitive.HEALTH)

REDIS_FAMILIES: tuple[RedisFamily, ...] = (
    _family(
        "session",
        ("session:{<account public id>}:<SHA-256 of token>", "session:{<account>}:epoch"),
        SESSION,
        Text("7天（SESSION.TTL_SECONDS）", "7 days (SESSION.TTL_SECONDS)"),
        _cached(
            Category.SERVICE_ID,
            SESSION,
            Text("7天", "7 days"),
            protection=Protection.HASHED,  # the token only as its SHA-256
        ),
    ),
    _family(
        "staff",
        ("staff:{<staff id>}:<SHA-256 of token>", "staff:{<staff id>}:epoch"),
        Text("采样人员登录会话及其站点", "Staff sessions and their site"),
        Text("12小时", "12 hours"),
        _cached(
            Category.SERVICE_ID,
            SESSION,
            Text("12小时", "12 hours"),
            bases=(Basis.HR_MANAGEMENT,),
            protection=Protection.HASHED,
        ),
    ),
    _family(
        "view",
        ("view:{<account>} (results, code:<resident>, png:<resident>, svg:<resident>)",),
        SCREENS,
        MINUTES_2,
        # Masked names, results, the code token; never an ID or phone number.
        _cached(Category.HEALTH, SCREENS, MINUTES_2, bases=SCREENING, sensitive=SCREEN_DATA),
    ),
    _family(
        "links",
        ("links:{<account>}", "links:{<account>}:generation"),
        Text("账号代办的受检人列表缓存", "A copy of the residents an account holds"),
        Text("2至5分钟", "2 to 5 minutes"),
        _cached(
            Category.RELATIONSHIP,
            Text("账号代办的受检人列表缓存", "A copy of the residents an account holds"),
            Text("2至5分钟", "2 to 5 minutes"),
            sensitive=(Sensitive.MINOR,),
        ),
    ),
    _family(
        "results",
        ("results:{<resident public id>}", "results:{<resident>}:watchers"),
        Text(
            "结果读模型：每管一项状态、轮次、站点、时间", "The results read model, one field a tube"
        ),
        Text(
            "与数据库中的结果一同保存，可随时重建；观察者集合约150秒",
            "As long as the results in the database (rebuilt from them); watchers about 150 s",
        ),
        _cached(
            Category.HEALTH,
            Text("向本人提供检测结果", "To show each person their results"),
            Text("同数据库中的结果", "As the results in the database"),
            bases=SCREENING,
            sensitive=(*SCREEN_DATA, Sensitive.WHEREABOUTS),
        ),
    ),
    _family(
        "names",
        ("names:{readmodel}",),
        Text("轮次和站点名称的编号表", "Ids of round and site names for the read model"),
        Text("不过期", "No expiry"),
        NotPersonal("names of rounds and sites"),
    ),
    _family(
        "qr",
        ("qr:{<SHA-256 of code token>}:png",),
        Text("登记码图片缓存", "Rendered registration code images"),
        Text("1小时", "1 hour"),
        # The symbol carries the code token: the resident's public id and masked name.
        _cached(
            Category.SERVICE_ID,
            Text("显示登记码", "To show the registration code"),
            Text("1小时", "1 hour"),
            bases=SCREENING,
            sensitive=(Sensitive.MINOR,),
        ),
    ),
    _family(
        "realname",
        ("realname:{<SHA-256 of certify_id>}",),
        Text("支付宝实名核验的绑定", "Binds an Alipay identity check to the login and claim"),
        Text("23小时", "23 hours"),
        _cached(
            Category.ID_DOCUMENT,
            Text("核验实名", "To check a real name"),
            Text("23小时", "23 hours"),
            bases=(Basis.SEPARATE_CONSENT,),
            protection=Protection.BLIND_INDEX,  # HMAC of (account, ID number, name)
            sensitive=(Sensitive.ID_NUMBER, Sensitive.MINOR),
        ),
    ),
    _family(
        "adm",
        (
            "adm:{<account>}:user",
            "adm:{<account>}:export",
            "adm:{<staff id>}:staff",
            "adm:{ip:<client network>}:user",
            "adm:{site:<site>}",
            "adm:{ch:<channel>:<shard>}",
            "adm:{cls:<class>:<shard>}",
            "adm:{sys:<shard>}",
        ),
        QUOTA,
        Text("数秒（令牌桶时间）", "Seconds (the bucket's time)"),
        _cached(Category.NETWORK, QUOTA, Text("数秒", "Seconds")),
    ),
    _family(
        "failed",
        ("failed:{<kind>:net:<client network>}", "failed:{<kind>:name:<username>}"),
        Text("登录失败计数", "Failed sign-in counts"),
        Text("15分钟", "15 minutes"),
        _cached(
            Category.NETWORK,
            Text("防止猜测密码", "Against password guessing"),
            Text("15分钟", "15 minutes"),
            bases=(Basis.HR_MANAGEMENT,),
        ),
    ),
    _family(
        "h5",
        ("h5:{code:<digest>}", "h5:{code:<digest>}:failed", "h5:{ip:<client network>}"),
        Text("H5查询的限流和失败计数", "Limits and failure counts of the H5 lookup"),
        Text("数秒；失败计数至登记码过期", "Seconds; failure counts until the code expires"),
        _cached(
            Category.NETWORK,
            Text("防止猜测证件号", "Against guessing ID numbers"),
            Text("至登记码过期", "Until the code expires"),
            protection=Protection.HASHED,  # the code only as a digest; addresses plain
        ),
    ),
    _family(
        "labnonce",
        ("labnonce:{<lab id>}:<nonce>",),
        Text("防止实验室请求重放", "Against replayed lab uploads"),
        Text("至少15分钟", "At least 15 minutes"),
        NotPersonal("a lab's request nonce"),
    ),
    _family(
        "overload",
        ("overload:{ctl}:doc", "overload:{ctl}:platforms", "overload:{waiting}:last"),
        Text("运行时控制和排队", "Run-time controls and the waiting room"),
        Text("控制项不过期；平台状态按设定", "Controls: no expiry; platform status as set"),
        NotPersonal("limits, modes and the queue's last slot"),
    ),
    _family(
        "retention",
        ("retention:{purge}:lock",),
        Text("定时删除过期记录：一次只运行一个", "The retention purge: one node at a time"),
        Text("2分钟，运行中续期", "2 minutes, renewed while it runs"),
        NotPersonal("a random lock token"),
    ),
    _family(
        "wechat",
        ("wechat:{<app id>}:access_token", "wechat:{<app id>}:access_token:lock"),
        Text("微信接口调用凭证", "WeChat's API access token, and its refresh lock"),
        Text("凭证有效期减安全余量", "The token's life less a safety margin"),
        NotPersonal("our app's credential"),
    ),
)
