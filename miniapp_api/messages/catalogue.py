"""Every error ``code`` the API answers: its HTTP status, the kind of its ``detail``, its message.

One entry per code, in Simplified Chinese (the default) and English. The raise sites keep their
own English sentence: an entry marked ``specific`` answers English requests with it, because it
names what the catalogue cannot (a limit from the settings, a platform, why an ID number is
invalid); everything a program needs of those specifics is also in ``detail``. Chinese answers
always take the catalogue's sentence.

``tests/unit/test_messages.py`` holds this table against the source: every code raised has an
entry with both languages and its status, and every entry is raised somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DetailKind(StrEnum):
    """The shape of ``detail`` (the OpenAPI schema of each: ``miniapp_api/openapi.py``)."""

    NONE = "none"  # null
    VALIDATION = "validation"  # [{"field", "problem"}, ...], never null
    PLATFORM = "platform"  # {"platform", "platform_code"}
    REJECTION = "rejection"  # the overload contract: reason, retry_after, alternatives, ...
    OBJECT = "object"  # an object of the entry's named fields, or null


@dataclass(frozen=True)
class Entry:
    statuses: tuple[int, ...]
    detail: DetailKind
    zh: str
    en: str
    fields: tuple[str, ...] = ()  # DetailKind.OBJECT: the fields it may carry
    specific: bool = False  # English answers keep the raise site's own sentence


def _e(
    status: int | tuple[int, ...],
    detail: DetailKind,
    zh: str,
    en: str,
    *,
    fields: tuple[str, ...] = (),
    specific: bool = False,
) -> Entry:
    statuses = status if isinstance(status, tuple) else (status,)
    return Entry(statuses, detail, zh, en, fields, specific)


NONE, VALIDATION, PLATFORM = DetailKind.NONE, DetailKind.VALIDATION, DetailKind.PLATFORM
REJECTION, OBJECT = DetailKind.REJECTION, DetailKind.OBJECT
DOCUMENTS = ("documents",)

CATALOGUE: dict[str, Entry] = {
    # --- 400: the request itself ---------------------------------------------------------
    "bad_request": _e(
        400, NONE, "请求无法处理，请检查后重试。", "The request cannot be processed."
    ),
    "malformed_json": _e(400, NONE, "请求内容不是有效的 JSON。", "The body is not valid JSON."),
    "idempotency_key_required": _e(
        400,
        NONE,
        "请发送 Idempotency-Key 请求头（每批一个，仅在重试同一批时复用）。",
        "Send an Idempotency-Key header (one per batch; reuse it only to retry that batch).",
    ),
    "invalid_idempotency_key": _e(
        400,
        NONE,
        "Idempotency-Key 须为 1 至 128 个不含空格的可打印 ASCII 字符。",
        "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces.",
    ),
    "invalid_code": _e(
        400,
        PLATFORM,
        "登录凭证无效、已使用或已过期，请在小程序中重新获取后再试。",
        "The code is invalid, used or expired; get a new one from the mini-program and try again.",
    ),
    "invalid_payload": _e(
        400,
        PLATFORM,
        "平台未接受所提交的内容，请重新操作一次。",
        "The platform did not accept what was sent; try again.",
        specific=True,
    ),
    # --- 401: who is calling ---------------------------------------------------------------
    "unauthorized": _e(
        401,
        NONE,
        "登录已失效或尚未登录，请重新登录。",
        "Log in first, or log in again: the session has expired or was ended.",
        specific=True,
    ),
    "invalid_credentials": _e(
        401, NONE, "用户名或密码不正确。", "Unknown username or wrong password.", specific=True
    ),
    "operator_unauthorized": _e(
        401,
        NONE,
        "运维令牌缺失或无效：请发送 Authorization: Bearer <运维令牌>。",
        "Operator token missing or not valid: send Authorization: Bearer <operator token>.",
    ),
    "lab_signature_required": _e(
        401,
        OBJECT,
        "检测机构请求须签名：需要 X-Lab-Id、X-Timestamp、X-Nonce 和 X-Signature。",
        "Sign lab requests: X-Lab-Id, X-Timestamp, X-Nonce and X-Signature are required.",
        fields=("missing_or_malformed",),
        specific=True,
    ),
    "stale_timestamp": _e(
        401,
        OBJECT,
        "X-Timestamp 与服务器时间相差过大，请同步时钟（NTP）后重新签名。",
        "X-Timestamp is too far from the server's clock; sync the clock (NTP) and sign again.",
        fields=("tolerance_seconds",),
    ),
    "invalid_signature": _e(
        401,
        OBJECT,
        "请求签名校验失败：请检查 X-Lab-Id、密钥和待签名字符串。",
        "The request signature does not verify: check X-Lab-Id, the secret and the string to sign.",
        fields=("string_to_sign",),
        specific=True,
    ),
    "nonce_reused": _e(
        401,
        NONE,
        "该 X-Nonce 已被使用，每个请求请使用新的随机值。",
        "This X-Nonce was used before; use a fresh nonce for every request.",
    ),
    # --- 404: what is not there ------------------------------------------------------------
    "not_found": _e(
        404,
        NONE,
        "未找到所请求的内容。",
        "Not found.",
        specific=True,
    ),
    "resident_not_found": _e(
        404, NONE, "您的账号下没有这位居民。", "No such resident on your account."
    ),
    "dependent_not_found": _e(404, NONE, "没有这位家庭成员。", "No such family member."),
    "holder_not_found": _e(404, NONE, "没有这位记录持有人。", "No such holder of your record."),
    "link_request_not_found": _e(
        404, NONE, "没有等待您处理的这项申请。", "No such request waiting for you."
    ),
    "tube_not_found": _e(404, NONE, "没有这支试管。", "No such tube.", specific=True),
    "document_not_found": _e(
        404,
        OBJECT,
        "没有这份文件。",
        "No such document.",
        fields=DOCUMENTS,
        specific=True,
    ),
    "no_consent": _e(
        404,
        NONE,
        "您没有可撤回的对此文件的同意。",
        "You have no consent to this document to withdraw.",
    ),
    "channel_disabled": _e(
        404,
        NONE,
        "此处未开通该平台登录。",
        "Login with this platform is not enabled here.",
        specific=True,
    ),
    "method_not_allowed": _e(
        405, NONE, "该地址不支持此请求方法。", "This method is not allowed for this address."
    ),
    # --- 409: the current state ------------------------------------------------------------
    "conflict": _e(409, NONE, "与当前状态冲突。", "This conflicts with the current state."),
    "already_linked": _e(
        409,
        NONE,
        "此人已是您的家庭成员。",
        "This person is already one of your family members.",
        specific=True,
    ),
    "too_many_dependents": _e(
        409,
        NONE,
        "家庭成员人数已达上限。",
        "An account cannot hold more family members.",
        specific=True,
    ),
    "holder_is_self": _e(
        409,
        NONE,
        "另一个登录将此记录作为本人持有。只有已通过平台实名认证的登录才能移除未认证的登录。",
        "Another login holds this record as its own. Only a login whose real name the platform "
        "confirmed can remove one that is not confirmed.",
    ),
    "resident_has_own_account": _e(
        409,
        NONE,
        "此人已有自己的登录，由本人决定谁持有其记录。",
        "This person has their own login now; they decide who holds their record.",
    ),
    "identity_claim_refused": _e(
        409,
        NONE,
        "此证件号码无法关联到您的登录。请先在平台完成实名认证，或绑定登记该证件时使用的手机号。",
        "This ID number cannot be linked to your login. Confirm your real name with the "
        "platform, or bind the phone number registered with it.",
    ),
    "real_name_not_confirmed": _e(
        409,
        NONE,
        "平台未确认该姓名和证件号码属于当前登录本人。请核对，或先完成平台的实名认证。",
        "The platform did not confirm this name and ID number as the person behind your login. "
        "Check both, or finish the platform's real-name page first.",
    ),
    "profile_verified": _e(
        409,
        NONE,
        "本人已通过平台实名认证此记录，只有本人可以更正。",
        "The person confirmed this record's name with the platform; only they can correct it.",
    ),
    "profile_shared": _e(
        409,
        NONE,
        "此档案与其他登录共享或被他人作为家庭成员持有，不能在此修改证件号码。",
        "This profile is shared with another login or held as someone's family member, so its "
        "ID number cannot be changed here.",
    ),
    "consent_required": _e(
        409,
        OBJECT,
        "请先阅读并同意这些文件的最新版本。",
        "Agree to the current version of these documents first.",
        fields=DOCUMENTS,
        specific=True,
    ),
    "document_outdated": _e(
        409,
        OBJECT,
        "这不是文件的最新版本，请展示最新内容后重新征求同意。",
        "This is not the current version of the document: show the current text and ask again.",
        fields=DOCUMENTS,
    ),
    "version_conflict": _e(
        409,
        OBJECT,
        "控制项已被他人修改，请重新加载后再试。",
        "Someone changed the controls since you loaded them; reload and try again.",
        fields=("version", "updated_by"),
    ),
    "no_open_round": _e(
        409,
        NONE,
        "当前没有开放的筛查轮次，请保留扫码记录稍后重新提交。",
        "No screening round is open; keep the scans and send them again later.",
    ),
    "no_result_to_amend": _e(
        409,
        NONE,
        "这支试管还没有结果：请用 POST /api/v1/lab/results 上传。",
        "This tube has no result yet: upload it with POST /api/v1/lab/results.",
    ),
    "request_in_flight": _e(
        409,
        NONE,
        "使用此 Idempotency-Key 的请求仍在处理中，请稍后重试以获取其结果。",
        "A request with this Idempotency-Key is still being processed; retry in a moment to "
        "get its answer.",
    ),
    "subscription_refused": _e(
        409,
        PLATFORM,
        "平台拒绝了这次消息订阅，请在小程序中重新授权。",
        "The platform refused this subscription; allow the messages again in the mini-program.",
        specific=True,
    ),
    # --- 410, 423: the registration code on the H5 page ------------------------------------
    "code_expired": _e(
        410,
        NONE,
        "此登记码已过期。请打开微信或支付宝小程序获取新码，您的结果会保留。",
        "This registration code has expired. Open the WeChat or Alipay mini-program to get a "
        "new one; your results are kept.",
    ),
    "lookup_locked": _e(
        423,
        NONE,
        "此登记码输错证件号码的次数过多，已不能在本页使用。微信或支付宝小程序可查看结果，"
        "在小程序中获取的新码可在本页再次使用。",
        "Too many wrong ID numbers were tried with this registration code, so it no longer "
        "works on this page. The WeChat or Alipay mini-program shows your results; a new code "
        "from it works here again.",
    ),
    "code_image_link_expired": _e(
        410,
        NONE,
        "此二维码图片链接已失效或码已重新生成，请重新打开登记码页面。",
        "This link to the code image has lapsed or the code was re-issued: show the code again.",
    ),
    # --- 413, 415: the body's size and type ------------------------------------------------
    "body_too_large": _e(
        413, OBJECT, "请求内容过大。", "The request body is too large.", fields=("max_bytes",)
    ),
    "batch_too_large": _e(
        413,
        OBJECT,
        "一次提交的条目过多，请分批发送。",
        "Too many items in one request; split the batch.",
        fields=("max_batch", "received", "max_items", "max_bytes"),
        specific=True,
    ),
    "unsupported_media_type": _e(
        415,
        NONE,
        "请以 application/json 格式发送请求内容。",
        "Send the body as application/json.",
    ),
    # --- 422: a body that fails its schema or its rules ------------------------------------
    "validation_failed": _e(
        422, VALIDATION, "请求内容有误，请检查标出的字段。", "The request body is not valid."
    ),
    "invalid_id_number": _e(
        422, VALIDATION, "证件号码无效，请核对。", "The ID number is not valid.", specific=True
    ),
    "birth_date_required": _e(
        422, VALIDATION, "此证件类型需要填写出生日期。", "Give the birth date for this ID type."
    ),
    "guardian_consent_required": _e(
        422,
        VALIDATION,
        "未成年人需要监护人同意。",
        "Children need the guardian's consent.",
        specific=True,
    ),
    "proxy_not_allowed": _e(
        422,
        VALIDATION,
        "只能代为添加未成年人、老年人或无法自行申请的人。",
        "Family members are children, elderly people, or someone who cannot apply themselves.",
        specific=True,
    ),
    "real_name_unsupported": _e(
        422,
        VALIDATION,
        "平台实名认证仅支持中国大陆居民身份证。",
        "The platforms' real-name checks cover mainland resident ID cards only.",
    ),
    "tested_in_future": _e(
        422, VALIDATION, "检测时间 tested_at 晚于当前时间。", "tested_at is in the future."
    ),
    "tested_before_sampling": _e(
        422,
        VALIDATION,
        "检测时间 tested_at 早于该试管最后一次采样时间。",
        "tested_at is before the tube's last sample was taken.",
    ),
    "idempotency_key_reused": _e(
        422,
        VALIDATION,
        "此 Idempotency-Key 已用于另一个请求，新数据请使用新的键。",
        "This Idempotency-Key was used for a different request; use a new key for new data.",
    ),
    # --- 5xx without the overload contract ------------------------------------------------
    "internal_error": _e(500, NONE, "服务器内部出错。", "Something went wrong on our side."),
    "platform_misconfigured": _e(
        502,
        PLATFORM,
        "平台拒绝了我们的请求，运维人员已收到告警。",
        "The platform refused our request; operators are alerted.",
    ),
    # --- 429, 503 (and the edge's 502, 504): the overload contract -------------------------
    # Their messages name the reason (``messages/rejections.py``); these name the code.
    "rate_limited": _e(
        429, REJECTION, "您的请求过于频繁，请稍后再试。", "Too many requests; try again shortly."
    ),
    "too_many_failures": _e(
        429,
        REJECTION,
        "密码错误次数过多，请稍后再试。",
        "Too many wrong passwords; wait before trying again.",
    ),
    "overloaded": _e(
        (503, 429),
        REJECTION,
        "服务当前非常繁忙，请稍后再试。",
        "The service is very busy right now; try again shortly.",
    ),
    "temporarily_unavailable": _e(
        (503, 502, 504),
        REJECTION,
        "服务暂时部分不可用，请稍后再试。",
        "The service is partly unavailable right now; try again shortly.",
    ),
    "read_only": _e(
        503, REJECTION, "修改暂时停止，查看仍可使用。", "Changes are paused for a while."
    ),
    "cache_only": _e(
        503,
        REJECTION,
        "目前只能从快速副本查看结果，而您的结果尚未在其中。",
        "Results can only be shown from the fast copy right now.",
    ),
    "waiting_room": _e(
        503,
        REJECTION,
        "正在排队：请在预计等待时间后携带排队凭证再次提交。",
        "You have a place in the queue: send the request again, with your ticket, after the "
        "estimated wait.",
    ),
    "platform_throttled": _e(
        503,
        REJECTION,
        "平台繁忙。您没有被退出登录，已保存的码仍可使用。",
        "The platform is busy. You are not logged out: saved codes keep working.",
    ),
    "platform_unavailable": _e(
        503,
        REJECTION,
        "平台暂无响应。您没有被退出登录，已保存的码仍可使用。",
        "The platform is not answering. You are not logged out: saved codes keep working.",
    ),
    "results_unavailable": _e(
        503,
        REJECTION,
        "暂时无法显示结果，结果出来后也会推送给您，请稍后再试。",
        "Results cannot be shown right now; your result is also pushed to you when it arrives.",
    ),
    "lab_auth_unavailable": _e(
        503,
        REJECTION,
        "检测机构上传暂停片刻，请用新的随机值和签名重发同一请求。",
        "Lab uploads are paused for a moment; retry the same request with a new nonce and "
        "signature.",
    ),
    "service_unavailable": _e(
        503,
        REJECTION,
        "服务暂时不可用，请稍后再试。",
        "The service is unavailable for a moment; try again shortly.",
    ),
}


def entry(code: str) -> Entry | None:
    """The catalogue's entry for ``code``, if it has one."""
    return CATALOGUE.get(code)


def codes_for(status: int) -> list[str]:
    """Every code answered with ``status``, in catalogue order."""
    return [code for code, found in CATALOGUE.items() if status in found.statuses]
