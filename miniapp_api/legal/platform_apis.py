"""The platform interfaces the mini-programs call, as the code uses them, and why.

WeChat's 用户隐私保护指引 must name every privacy interface the mini-program calls with a
concrete purpose, and Alipay's privacy policy likewise. The list follows what the code does:
the login exchange (``channels/*/adapter.py``), the phone number (``POST /api/v1/me/phone``),
subscriptions (``miniapp_api/notify``), the real-name checks
(``miniapp_api/residents/realname.py``, ``channels/wechat/realname.py``,
``channels/alipay/certify.py``) and the client module's storage
(``miniapp_api/static/miniapp-client.js``). ``tests/integration/legal`` fails when the code uses
an interface this list does not name.
"""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.privacy.terms import Text


@dataclass(frozen=True)
class PlatformApi:
    """One interface of a platform the mini-program calls (``name``, as its docs spell it)."""

    name: str
    what: Text  # what it gives us
    why: Text  # why we need it
    server_side: str  # the platform's server API we call with it ("" if none)


WECHAT_APIS: tuple[PlatformApi, ...] = (
    PlatformApi(
        "wx.login",
        Text(
            "一次性登录凭证；我们在服务器上换取您的 openid、unionid（如有）和 session_key",
            "A one-time login code; our server exchanges it for your openid, unionid (if any) "
            "and session_key",
        ),
        Text(
            "识别您的登录并保持登录状态。session_key 加密保存，从不离开服务器",
            "To recognise your login and keep you signed in. The session_key is stored "
            "encrypted and never leaves our server",
        ),
        "jscode2session",
    ),
    PlatformApi(
        "getPhoneNumber",
        Text(
            "您点击“手机号快速验证”按钮（open-type=getPhoneNumber）后，微信核验过的手机号",
            "The mobile number WeChat verified, after you tap the phone-number button "
            "(open-type=getPhoneNumber)",
        ),
        Text(
            "用于认领您本人已有的登记档案和找回档案；不用于营销",
            "To claim and find your own existing record; never for marketing",
        ),
        "getuserphonenumber",
    ),
    PlatformApi(
        "wx.requestSubscribeMessage",
        Text(
            "您选择接收的通知（检测结果、家庭成员变动）",
            "The notifications you choose to receive (results, family changes)",
        ),
        Text(
            "结果出来时通知您；通知内容为脱敏姓名、结果、检测时间、管号和轮次",
            "To tell you when a result arrives; a notice holds the masked name, the result, "
            "the test time, the tube number and the round",
        ),
        "message/subscribe/send",
    ),
    PlatformApi(
        "wx.navigateToMiniProgram",
        Text(
            "打开微信城市服务的实名信息校验页，您同意后返回一次性凭证",
            "Opens WeChat City Services' real-name check page; after you agree it returns a "
            "one-time code",
        ),
        Text(
            "我们将您的 openid、姓名和证件号交微信核对是否为本人（仅在认领档案或核验本人时）",
            "We ask WeChat whether the name and ID number are the person behind your login "
            "(only to claim a record or verify yourself)",
        ),
        "checkrealnameinfo",
    ),
    PlatformApi(
        "wx.request",
        Text(
            "与本服务的服务器通信（仅此一个地址）", "Talks to this service's server (and no other)"
        ),
        Text("完成您在小程序中的每项操作", "To carry out what you do in the mini-program"),
        "",
    ),
    PlatformApi(
        "wx.setStorageSync, wx.getStorageSync, wx.removeStorageSync",
        Text(
            "在您手机上保存登录凭证和最近一次的登记码",
            "Keeps your sign-in and last code on your phone",
        ),
        Text("网络不畅或服务繁忙时仍可出示登记码", "To show your code offline or when we are busy"),
        "",
    ),
)

ALIPAY_APIS: tuple[PlatformApi, ...] = (
    PlatformApi(
        "my.getAuthCode",
        Text(
            "一次性授权码；我们在服务器上换取您的支付宝用户号（user_id 或 open_id）",
            "A one-time auth code; our server exchanges it for your Alipay user id (user_id "
            "or open_id)",
        ),
        Text("识别您的登录并保持登录状态", "To recognise your login and keep you signed in"),
        "alipay.system.oauth.token",
    ),
    PlatformApi(
        "my.getPhoneNumber",
        Text(
            "经您授权后支付宝提供的加密手机号，由我们的服务器解密",
            "The encrypted mobile number Alipay gives with your permission, decrypted on our "
            "server",
        ),
        Text(
            "用于认领您本人已有的登记档案和找回档案；不用于营销",
            "To claim and find your own existing record; never for marketing",
        ),
        "",
    ),
    PlatformApi(
        "my.requestSubscribeMessage",
        Text(
            "您选择接收的通知（检测结果、家庭成员变动）",
            "The notifications you choose to receive (results, family changes)",
        ),
        Text(
            "结果出来时通知您；通知内容为脱敏姓名、结果、检测时间、管号和轮次",
            "To tell you when a result arrives; a notice holds the masked name, the result, "
            "the test time, the tube number and the round",
        ),
        "alipay.open.app.mini.templatemessage.send",
    ),
    PlatformApi(
        "my.startAPVerify",
        Text(
            "支付宝身份核验（刷脸）：我们提交姓名和证件号，由支付宝比对您的人脸，只告诉我们是否通过",
            "Alipay identity check (face): we send the name and ID number, Alipay compares "
            "your face and tells us only whether it passed",
        ),
        Text(
            "核验登记的是您本人（仅在认领档案或核验本人时）；我们不接收、不保存人脸图像",
            "To verify that the record is yours (only to claim a record or verify yourself); "
            "we never receive or keep an image of your face",
        ),
        "alipay.user.certify.open.initialize / query",
    ),
    PlatformApi(
        "my.request",
        Text(
            "与本服务的服务器通信（仅此一个地址）", "Talks to this service's server (and no other)"
        ),
        Text("完成您在小程序中的每项操作", "To carry out what you do in the mini-program"),
        "",
    ),
    PlatformApi(
        "my.setStorageSync, my.getStorageSync, my.removeStorageSync",
        Text(
            "在您手机上保存登录凭证和最近一次的登记码",
            "Keeps your sign-in and last code on your phone",
        ),
        Text("网络不畅或服务繁忙时仍可出示登记码", "To show your code offline or when we are busy"),
        "",
    ),
)
