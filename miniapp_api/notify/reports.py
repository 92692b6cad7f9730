"""What a subscribe prompt's report means: the templates it accepted, and every one it names.

WeChat (``wx.requestSubscribeMessage``): one key per template; ``"accept"`` (and, with voice or
strong reminders, ``"acceptWithAudio"`` / ``"acceptWithAlert"``) is an accept; ``"reject"``,
``"ban"`` (blocked by WeChat) and ``"filter"`` (same title as another template) are not. Only a
successful prompt (``errMsg`` ``"requestSubscribeMessage:ok"``) accepted anything.

Alipay (``my.requestSubscribeMessage``): ``behavior == "subscribe"`` is a finished prompt
(accepting or rejecting); ``result.subscribeEntityIds`` lists what it subscribed. Alipay says
its per-template keys are reliable only then, and in a silent prompt (``show`` false, the user
chose "always keep") repeat the previous answer, so they are read only when ``result`` is
missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from miniapp_api.notify.schemas import SubscriptionsIn

WECHAT_OK = "requestSubscribeMessage:ok"
ALIPAY_DONE = "subscribe"
ACCEPT = "accept"


@dataclass(frozen=True)
class Report:
    accepted: tuple[str, ...]  # templates to add one message to (if they are ours)
    named: tuple[str, ...]  # every template the report names, accepted or not


def read_report(report: SubscriptionsIn) -> Report:
    """The accepted and named templates of a report in any of its three forms."""
    if report.accepted is not None:
        return Report(tuple(report.accepted), tuple(report.accepted))
    answers = {k: v for k, v in (report.model_extra or {}).items() if isinstance(v, str)}
    if report.behavior is not None or report.result is not None:
        return _alipay(report, answers)
    accepted = [t for t, answer in answers.items() if _wechat_accepts(answer)]
    ok = report.err_msg == WECHAT_OK
    return Report(tuple(accepted) if ok else (), tuple(answers))


def _wechat_accepts(answer: str) -> bool:
    # "acceptWithAudio", "acceptWithAlert": accepted with a voice or strong reminder.
    return answer == ACCEPT or answer.startswith(ACCEPT + "With")


def _alipay(report: SubscriptionsIn, answers: dict[str, str]) -> Report:
    result = report.result
    lists = (
        []
        if result is None
        else [
            result.subscribe_entity_ids,
            result.subscribed_entity_ids,
            result.unsubscribed_entity_ids,
            result.current_subscribed_entity_ids,
            result.entity_list,
        ]
    )
    named = dict.fromkeys([*answers, *(t for ids in lists if ids for t in ids)])
    if report.behavior not in (None, ALIPAY_DONE):  # "cancel", or "" (failed)
        return Report((), tuple(named))
    if result is not None and result.subscribe_entity_ids is not None:
        accepted = list(result.subscribe_entity_ids)
    else:
        accepted = [t for t, answer in answers.items() if answer == ACCEPT]
    return Report(tuple(accepted), tuple(named))
