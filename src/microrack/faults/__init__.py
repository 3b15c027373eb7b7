"""Faults a node applies to itself on request, as leases it reverts on its own.

Standard library only: the agent imports it when started with ``--chaos-token``.
"""

from microrack.faults._auth import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    AuthError,
    Verifier,
    load_secret,
    new_secret,
    sign_headers,
)

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
