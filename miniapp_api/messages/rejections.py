"""The overload contract's words (``miniapp_api/overload/rejection.py``): why a request was
refused, per reason, and what works instead, in Simplified Chinese and English.

Kept short: a rejection body stays under 1 KB with all four alternatives in Chinese.
"""

from __future__ import annotations

from miniapp_api.messages.language import Language, Text

_BUSY = Text("服务当前非常繁忙。", "The service is very busy right now.")
_PARTLY = Text("服务暂时部分不可用。", "The service is partly unavailable right now.")

REASONS: dict[str, Text] = {
    "user_quota": Text("您的请求过于频繁。", "Too many requests from you in a short time."),
    "too_many_failures": Text(
        "此登录或您所在网络的密码错误次数过多，请稍候再试。",
        "Too many wrong passwords for this login or from your network; wait before trying again.",
    ),
    "channel_quota": Text("此小程序当前非常繁忙。", "This mini-program is very busy right now."),
    "site_quota": Text(
        "您的采样点短时间内请求过多；已提交的扫码记录已保存，请稍后发送其余记录。",
        "Your sampling site has sent very many requests in a short time; scans you made are "
        "kept, send the rest again after a moment.",
    ),
    "system_quota": _BUSY,
    "local_concurrency": _BUSY,
    "queue_full": _BUSY,
    "class_quota": _BUSY,
    "redis_unavailable": _PARTLY,
    "database_unavailable": _PARTLY,
    "read_only": Text(
        "修改暂时停止，查看仍可使用。", "Changes are paused for a while; viewing still works."
    ),
    "cache_only": Text(
        "目前只能从快速副本查看结果，而您的结果尚未在其中。",
        "Results can only be shown from the fast copy right now, and yours is not in it yet.",
    ),
    "waiting_room": Text(
        "很多人正在修改信息，您已在排队。请在预计等待时间后携带排队凭证再次提交。",
        "Many people are changing their details right now: you have a place in the queue. "
        "Send the request again, with your ticket, after the estimated wait.",
    ),
    "platform_throttled": Text(
        "平台繁忙。您没有被退出登录，登录和已保存的码仍可使用。",
        "The platform is busy. You are not logged out: sessions and saved codes keep working.",
    ),
    "platform_unavailable": Text(
        "平台暂无响应。您没有被退出登录，登录和已保存的码仍可使用。",
        "The platform is not answering. You are not logged out: sessions and saved codes keep "
        "working.",
    ),
    # The edge's answer when a node failed mid-request (502) or did not answer in time (504).
    "node_failed": Text(
        "处理您请求的服务器在答复前中断了，请稍后重试。",
        "The server handling your request stopped before answering. Please try again in a moment.",
    ),
    # 503s raised by services (``errors.ServiceUnavailable``): the reason is their code.
    "results_unavailable": Text(
        "暂时无法显示结果。结果出来后也会推送给您，请稍后再试。",
        "Results cannot be shown right now. Your result will also be pushed to you when it "
        "arrives; try again shortly.",
    ),
    "lab_auth_unavailable": Text(
        "检测机构上传暂停片刻（防重放检查不可用），请用新的随机值和签名重发同一请求。",
        "Lab uploads are paused for a moment (replay protection is unavailable); retry the "
        "same request with a new nonce and signature.",
    ),
    "service_unavailable": Text(
        "服务暂时不可用，请稍后再试。",
        "The service is unavailable for a moment; try again shortly.",
    ),
}

SAVED_CODE = Text(
    "登记码离线也能用：在采样点出示已保存的码或截图即可。",
    "Your registration code works offline: show the saved code or a screenshot of it at the "
    "sampling site.",
)
PUSH = Text(
    "无需刷新：结果出来后会以消息推送给您。",
    "No need to refresh: your result is sent to you as a message when it arrives.",
)
H5_LOOKUP = Text(
    "在任意浏览器中用登记码截图和证件号码即可查询结果。",
    "Look up results in any browser with a screenshot of your registration code and your ID "
    "number.",
)
PLATFORM_NAMES: dict[str, Text] = {
    "wechat": Text("微信", "WeChat"),
    "alipay": Text("支付宝", "Alipay"),
}
OTHER_PLATFORM_OK = Text(
    "{name}小程序可显示同样的码和结果，目前运行正常。",
    "The {name} mini-program shows the same code and results and is working normally.",
)
OTHER_PLATFORM_TROUBLED = Text(
    "{name}小程序可显示同样的码和结果，但目前也{status}。",
    "The {name} mini-program shows the same code and results but is {status} too.",
)
PLATFORM_STATUS: dict[str, Text] = {
    "busy": Text("繁忙", "busy"),
    "down": Text("无响应", "down"),
}


def reason_message(reason: str, language: Language) -> str:
    """Why the request was refused, in ``language``."""
    return REASONS[reason].in_(language)


def other_platform_message(platform: str, status: str, language: Language) -> str:
    """The other mini-program as an alternative, and how it is doing."""
    name = PLATFORM_NAMES.get(platform, Text(platform, platform)).in_(language)
    if status == "ok":
        return OTHER_PLATFORM_OK.in_(language).format(name=name)
    said = PLATFORM_STATUS.get(status, Text(status, status)).in_(language)
    return OTHER_PLATFORM_TROUBLED.in_(language).format(name=name, status=said)
