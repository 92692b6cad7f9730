"""WeChat and Alipay as ``bench/login.py`` drives them: login codes, latency, seeded users.

Each :class:`LoginPlatform` names the app's login route and the emulator that issues its
single-use login codes (in batches, from :mod:`_emulator_app`'s bench routes) and slows its
login call down on request.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from _loadgen import ClosedLoop
from _procs import http_json


def new_openid() -> str:
    """A random WeChat openid of the real shape (28 characters, starting with ``o``)."""
    return "o" + secrets.token_urlsafe(20)[:27]


def new_user_id() -> str:
    """A random Alipay user_id of the real shape (``2088`` and 12 digits)."""
    return "2088" + str(secrets.randbelow(10**12)).zfill(12)


@dataclass(frozen=True)
class LoginPlatform:
    """One platform: the app's login route, and the emulator that issues its login codes."""

    name: str  # as the emulator's faults name it
    login_path: str
    emulator_port: int
    issue_path: str  # the emulator's batch route: {subjects_field: [...]} -> {"codes": [...]}
    subjects_field: str
    code_field: str  # the login request body's field
    fault_api: str  # the call that the emulated latency slows down
    new_subject: Callable[[], str]

    def issue_codes(self, subjects: Sequence[str]) -> list[bytes]:
        """One single-use login code per subject, as ready-made login request bodies."""
        codes: list[str] = []
        for chunk in range(0, len(subjects), 5000):
            status, answer = http_json(
                self.emulator_port,
                "POST",
                self.issue_path,
                {self.subjects_field: list(subjects[chunk : chunk + 5000])},
                timeout=60,
            )
            if status != 200 or not isinstance(answer, dict):
                raise RuntimeError(
                    f"the {self.name} emulator refused to issue login codes (HTTP {status})"
                )
            codes += answer["codes"]
        return [json.dumps({self.code_field: code}).encode() for code in codes]

    def mixed_subjects(self, pool: Sequence[str], count: int, new_share: float) -> list[str]:
        """``count`` subjects: ``new_share`` of them first-time users, the rest from ``pool``."""
        rng = secrets.SystemRandom()
        return [
            self.new_subject() if rng.random() < new_share else rng.choice(pool)
            for _ in range(count)
        ]

    def set_latency(self, latency_ms: int) -> None:
        status, _ = http_json(
            self.emulator_port,
            "POST",
            "/_emulator/faults",
            # No errcode: the fault only sleeps (EmulatorState.roll_fault), never answers errors.
            {"platform": self.name, "api": self.fault_api, "latency_ms": latency_ms},
        )
        if status != 200:
            raise RuntimeError(
                f"the {self.name} emulator refused the latency fault (HTTP {status})"
            )


def login_platforms(emulator_ports: Mapping[str, int]) -> dict[str, LoginPlatform]:
    return {
        "wechat": LoginPlatform(
            name="wechat",
            login_path="/api/v1/auth/wechat",
            emulator_port=emulator_ports["wechat"],
            issue_path="/_bench/wechat/logins",  # bench/_emulator_app.py
            subjects_field="openids",
            code_field="code",
            fault_api="jscode2session",
            new_subject=new_openid,
        ),
        "alipay": LoginPlatform(
            name="alipay",
            login_path="/api/v1/auth/alipay",
            emulator_port=emulator_ports["alipay"],
            issue_path="/_bench/alipay/logins",  # bench/_emulator_app.py
            subjects_field="user_ids",
            code_field="auth_code",
            fault_api="alipay.system.oauth.token",
            new_subject=new_user_id,
        ),
    }


def seed_users(
    app_port: int, platform: LoginPlatform, pool: Sequence[str], concurrency: int
) -> float:
    """Log every pool user in once (so that later logins are returning ones); return the rate."""
    bodies = deque(platform.issue_codes(pool))
    loop = ClosedLoop(app_port, platform.login_path, bodies, concurrency)
    started = time.monotonic()
    loop.start()
    loop.wait_until_done(started + 60)
    records = loop.stop()
    elapsed = time.monotonic() - started
    statuses = Counter(status for _, _, status in records)
    if set(statuses) != {"200"} or statuses["200"] != len(pool):
        raise RuntimeError(f"seeding {len(pool)} {platform.name} users failed: {dict(statuses)}")
    rate = len(pool) / elapsed
    print(
        f"  {platform.name}: seeded {len(pool)} returning users in {elapsed:.1f}s "
        f"({rate:.0f} logins/s, cold)"
    )
    return rate
