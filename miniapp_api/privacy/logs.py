"""The fields of our log lines (``miniapp_api/logging.py``) and what may reach them."""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import Basis, Category, NotPersonal, Personal, Protection, Text


@dataclass(frozen=True)
class LogField:
    name: str
    about: Text
    # Personal: the client's address alone. In every other field personal data is not meant
    # to appear, and the redaction is the last line of defence.
    holds: Personal | NotPersonal


REDACTION = Text(
    "写入前屏蔽：证件号（18位、15位）、护照和港澳通行证号、手机号、支付宝 user_id 和 open_id、"
    "微信 openid/unionid，在消息、参数、附加字段和异常堆栈中均屏蔽",
    "Masked before writing: ID numbers (18 and 15 digits), passport and HK/Macau permit "
    "numbers, mobile numbers, Alipay user_id and open_id, WeChat openid/unionid; in the "
    "message, its arguments, extra fields and tracebacks",
)
RETENTION = Text("日志保存30天", "Logs are kept 30 days")  # the deployment's log rotation

LOG_FIELDS: tuple[LogField, ...] = (
    LogField("ts", Text("时间", "When"), NotPersonal("a timestamp of the line")),
    LogField("level", Text("级别", "Level"), NotPersonal("INFO, WARNING, ...")),
    LogField("logger", Text("模块", "Module"), NotPersonal("the module's name")),
    LogField(
        "request_id",
        Text("请求编号", "Request id"),
        NotPersonal("random per request, or the client's own sane X-Request-ID"),
    ),
    LogField(
        "message",
        Text(
            "访问行：方法、路径（已屏蔽）、状态码", "Access line: method, path (redacted), status"
        ),
        NotPersonal("paths carry public ids only; anything shaped like personal data is masked"),
    ),
    LogField(
        "status",
        Text("状态码；推送行：推送状态", "HTTP status; push lines: the message's state"),
        NotPersonal("a number, or a state such as sent"),
    ),
    LogField("duration_ms", Text("耗时", "Duration"), NotPersonal("milliseconds")),
    LogField(
        "client",
        Text("访问行：客户端IP地址", "Access line: the client's IP address"),
        # The address the rate limits count (a trusted proxy's X-Forwarded-For), whole: an
        # operator tracing an attack or a complaint must find that one client's requests.
        Personal(
            Category.NETWORK,
            Text(
                "排查故障、攻击和滥用（如哪个地址触发了限流）",
                "Investigating faults, attacks and abuse (e.g. which address met the rate limits)",
            ),
            (Basis.CONTRACT,),
            RETENTION,
            frozenset(),
            Protection.PLAIN,
        ),
    ),
    LogField(
        "method", Text("访问行：请求方法", "Access line: HTTP method"), NotPersonal("GET, ...")
    ),
    LogField(
        "path",
        Text("访问行：路径（已屏蔽）", "Access line: path (redacted)"),
        NotPersonal("as in the message: public ids only, anything like personal data masked"),
    ),
    # The push worker's lines (notify/worker.py, notify/notices.py).
    LogField("outbox_id", Text("推送消息编号", "Push message id"), NotPersonal("a surrogate key")),
    LogField("notice_id", Text("家庭通知编号", "Family notice id"), NotPersonal("a surrogate key")),
    LogField("attempts", Text("推送尝试次数", "Push attempts"), NotPersonal("a count")),
    LogField(
        "platform_code",
        Text("平台错误码", "The platform's error code"),
        NotPersonal("e.g. 40029, isv.code-invalid"),
    ),
    LogField("batch_size", Text("推送批量", "Push batch size"), NotPersonal("a setting")),
    LogField(
        "exc",
        Text("异常堆栈（已屏蔽）", "Traceback (redacted)"),
        NotPersonal("code locations and messages; masked as above"),
    ),
)
