"""The signature a receiver checks: HMAC-SHA256 of `timestamp + "." + body` with the secret.

The timestamp is signed with the body so a receiver can refuse an old message replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-KRA-Signature"
TIMESTAMP_HEADER = "X-KRA-Timestamp"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"
