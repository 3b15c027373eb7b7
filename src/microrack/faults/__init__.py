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
from microrack.faults._engine import DEFAULT_STATE, FaultEngine
from microrack.faults._kinds import NodeContext
from microrack.faults._spec import (
    KINDS,
    NFT_TABLE,
    FaultError,
    FaultRequest,
    check_params,
    parse_request,
    plan_commands,
)

__all__ = [
    "DEFAULT_STATE",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "KINDS",
    "NFT_TABLE",
    "AuthError",
    "FaultEngine",
    "FaultError",
    "FaultRequest",
    "NodeContext",
    "Verifier",
    "check_params",
    "load_secret",
    "new_secret",
    "parse_request",
    "plan_commands",
    "sign_headers",
]
