"""Names for the real-name tests, and taking a platform user's real-name record back.

The rest of the emulator's real-name side is driven through :class:`EmulatorPhone`
(``set_real_identity``, ``wechat_real_name_code``, ``alipay_face_check``).
"""

from __future__ import annotations

from tests.support.phones import EmulatorPhone

# Names only the real-name tests use. Not remembered for test_no_leaks (names are in some API
# responses by design); the real-name tests look for them in the log lines themselves.
REAL_NAME = "欧阳实名"
OTHER_NAME = "司马另人"


def forget_real_identity(phone: EmulatorPhone, platform: str, subject: str) -> None:
    """The platform no longer has a real name for ``subject`` (as if never verified)."""
    response = phone.http.delete(
        f"{phone.base_url}/_emulator/{platform}/users/{subject}/real-name", timeout=5
    )
    response.raise_for_status()
