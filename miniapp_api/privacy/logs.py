"""The fields of our log lines (``miniapp_api/logging.py``) and what may reach them."""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import NotPersonal, Text


@dataclass(frozen=True)
class LogField:
    name: str
    about: Text
    holds: NotPersonal  # every field: the redaction is the last line of defence


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
    LogField("status", Text("状态码", "HTTP status"), NotPersonal("a number")),
    LogField("duration_ms", Text("耗时", "Duration"), NotPersonal("milliseconds")),
    LogField(
        "exc",
        Text("异常堆栈（已屏蔽）", "Traceback (redacted)"),
        NotPersonal("code locations and messages; masked as above"),
    ),
)
