"""What the emulator knows about the apps that call it: WeChat app secrets, Alipay app keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class AlipayApp:
    """One Alipay app as the platform sees it.

    ``app_public_key`` verifies the app's RSA2 request signatures; ``aes_key`` (base64, the
    app's "content encryption key") encrypts ``my.getPhoneNumber`` payloads.
    """

    app_public_key: str
    aes_key: str


@dataclass(frozen=True)
class EmulatorConfig:
    """Apps registered on the emulated platforms, and the platform's own RSA key."""

    wechat_apps: dict[str, str] = field(default_factory=dict)  # app id -> app secret
    alipay_apps: dict[str, AlipayApp] = field(default_factory=dict)
    alipay_platform_private_key: str = ""  # PEM; generated when empty
    code_ttl_seconds: float = 300.0

    def with_platform_key(self) -> EmulatorConfig:
        """Return this config with a freshly generated Alipay platform key if it has none."""
        if self.alipay_platform_private_key:
            return self
        return EmulatorConfig(
            wechat_apps=self.wechat_apps,
            alipay_apps=self.alipay_apps,
            alipay_platform_private_key=generate_rsa_private_key_pem(),
            code_ttl_seconds=self.code_ttl_seconds,
        )


def generate_rsa_private_key_pem(bits: int = 2048) -> str:
    """A new RSA private key in PKCS#8 PEM (the format the Alipay SDK and our adapter read)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_key_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a PEM private key."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
