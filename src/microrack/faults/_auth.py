"""HMAC request signing for the agent's fault endpoints.

A request carries three headers: the sender's Unix time, a random nonce and
``HMAC-SHA256(secret, method \\n path \\n time \\n nonce \\n SHA256(body))`` in
hex.  The receiver refuses a bad signature, a time more than ``window`` seconds
from its own clock, and a nonce it has already seen inside that window, so a
captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from microrack.errors import ConfigError

__all__ = [
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "AuthError",
    "Verifier",
    "load_secret",
    "new_secret",
    "sign_headers",
]

HEADER_TIME = "X-Microrack-Time"
HEADER_NONCE = "X-Microrack-Nonce"
HEADER_SIGNATURE = "X-Microrack-Signature"
MIN_SECRET_BYTES = 32
_MAX_NONCES = 100_000


class AuthError(Exception):
    """A request failed authentication; ``reason`` is one word for logs and metrics."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def load_secret(path: str | Path) -> bytes:
    """The shared secret in ``path`` (surrounding whitespace dropped).

    Refuses a file others can read or one shorter than 32 bytes.
    """
    p = Path(path)
    try:
        st = p.stat()
        data = p.read_bytes().strip()
    except OSError as e:
        raise ConfigError(str(path), None, f"cannot read the chaos token: {e.strerror}") from e
    if st.st_mode & 0o077:
        raise ConfigError(
            str(path), None, "the chaos token must not be readable by group or others (chmod 600)"
        )
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigError(
            str(path), None, f"the chaos token needs at least {MIN_SECRET_BYTES} bytes"
        )
    return data


def _digest(secret: bytes, method: str, path: str, stamp: str, nonce: str, body: bytes) -> str:
    msg = "\n".join((method.upper(), path, stamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()


def sign_headers(
    secret: bytes,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The three headers that authenticate ``method path`` with ``body``."""
    stamp = f"{time.time() if now is None else now:.3f}"
    nonce = nonce or secrets.token_hex(16)
    return {
        HEADER_TIME: stamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: _digest(secret, method, path, stamp, nonce, body),
    }


class Verifier:
    """Checks signed requests; remembers nonces for the replay window. Thread-safe."""

    def __init__(self, secret: bytes, *, window: float = 30.0) -> None:
        self._secret = secret
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
    ) -> None:
        """Raise :class:`AuthError` unless the request is signed, fresh and new."""
        now = time.time() if now is None else now
        stamp = headers.get(HEADER_TIME)
        nonce = headers.get(HEADER_NONCE)
        sig = headers.get(HEADER_SIGNATURE)
        if not stamp or not nonce or not sig:
            raise AuthError("unsigned", "the request carries no signature")
        if not 16 <= len(nonce) <= 128 or not nonce.isascii() or not nonce.isalnum():
            raise AuthError("malformed", f"{HEADER_NONCE}: 16 to 128 letters or digits")
        try:
            sent = float(stamp)
        except ValueError:
            raise AuthError("malformed", f"{HEADER_TIME}: not a Unix time") from None
        if not abs(now - sent) <= self.window:
            raise AuthError(
                "stale",
                f"{HEADER_TIME} is {now - sent:+.0f} s from this node's clock "
                f"(allowed ±{self.window:.0f} s)",
            )
        want = _digest(self._secret, method, path, stamp, nonce, body)
        if not hmac.compare_digest(want, sig.lower()):
            raise AuthError("signature", "the signature does not match")
        with self._lock:
            for n, t in list(self._seen.items()):
                if now - t > 2 * self.window:
                    del self._seen[n]
            if nonce in self._seen:
                raise AuthError("replay", "this request was already received")
            if len(self._seen) >= _MAX_NONCES:
                raise AuthError("busy", "too many signed requests in the replay window")
            self._seen[nonce] = now


def new_secret() -> str:
    """A fresh secret for a token file."""
    return secrets.token_hex(32)
