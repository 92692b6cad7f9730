"""Response bodies of the codes feature: a resident's code and the JWKS of the signing keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from miniapp_api.clock import UtcDateTime


class CodeOut(BaseModel):
    """A resident's live registration code; ``name_masked`` is exactly what the token carries.

    Nothing of the ID number: residents share screenshots of this screen, and the ID number is
    the H5 lookup's second factor (README, "The H5 lookup").
    """

    token: str = Field(description="compact JWS (EdDSA, Ed25519): what the QR symbol holds")
    code_id: str = Field(
        description="c_ and the token's random jti; changes when the code is re-issued"
    )
    expires_at: UtcDateTime
    png_url: str = Field(description="the QR symbol as PNG; send the same Bearer session")
    svg_url: str = Field(description="the QR symbol as SVG; send the same Bearer session")
    image_url: str = Field(
        description="the QR symbol as PNG for <image src>: a signed link, no session needed; "
        "lapses after 10 to 15 minutes (410) and when the code is re-issued"
    )
    name_masked: str


class JwkOut(BaseModel):
    """One Ed25519 public key (RFC 8037)."""

    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str = Field(description="base64url of the raw 32-byte public key, no padding")
    kid: str
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"


class JwksOut(BaseModel):
    """Every key a code may be signed with: the signing key first, then retired ones."""

    keys: list[JwkOut]
