"""The agent's signed fault endpoints (``--chaos-token``), see docs/agent.md "Faults (chaos)".

Every request is authenticated with :class:`microrack.faults.Verifier` before
its body is parsed, logged with node, kind, id and outcome, and counted in
``microrack_agent_chaos_requests_total{kind,outcome}``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from microrack.faults import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    KINDS,
    AuthError,
    FaultEngine,
    FaultError,
    Verifier,
    parse_request,
)

__all__ = ["MAX_BODY", "SIGNED_HEADERS", "ChaosAPI"]

log = logging.getLogger("microrack.agent.chaos")
MAX_BODY = 64 * 1024
SIGNED_HEADERS = (HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE)
PREFIX = "/api/v1/faults"
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _escape(v: str) -> str:
    return v.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


class ChaosAPI:
    """Answers ``/api/v1/faults``; ``handle`` returns (status, JSON object)."""

    def __init__(self, engine: FaultEngine, verifier: Verifier) -> None:
        self.engine = engine
        self.verifier = verifier
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def owns(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        length: int,
        peer: str,
    ) -> tuple[int, dict[str, Any]]:
        seen = {"kind": "none", "id": "-"}
        status, obj = 500, {"error": "internal error"}
        try:
            if length > MAX_BODY:
                raise FaultError(413, f"body of {length} bytes is over {MAX_BODY} bytes")
            try:
                self.verifier.verify(method, target, headers, body)
            except AuthError as e:
                raise FaultError(401, str(e)) from None
            status, obj = self._route(method, target.split("?", 1)[0], body, seen)
        except FaultError as e:
            status = e.status
            obj = {"error": str(e)}
            if e.field:
                obj["field"] = e.field
        except Exception:
            log.exception("chaos request failed")
        outcome = "ok" if status < 300 else str(status)
        with self._lock:
            self._counts[(seen["kind"], outcome)] += 1
        log.warning(
            "chaos %s %s from %s: node=%s kind=%s id=%s outcome=%s%s",
            method,
            target,
            peer,
            self.engine.ctx.node,
            seen["kind"],
            seen["id"],
            status,
            "" if status < 300 else f" ({obj.get('error')})",
        )
        return status, obj

    def _route(
        self, method: str, path: str, body: bytes, seen: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Answer one authenticated request; ``seen`` gets its kind and id for the log."""
        eng = self.engine
        if path == PREFIX and method == "GET":
            return 200, {"node": eng.ctx.node, "faults": eng.active()}
        if path == PREFIX and method == "POST":
            data = self._json(body)
            if isinstance(data, dict):
                kind, fid = data.get("kind"), data.get("id")
                if isinstance(kind, str) and kind in KINDS:
                    seen["kind"] = kind
                if isinstance(fid, str) and _ID.fullmatch(fid):
                    seen["id"] = fid
            req = parse_request(data, max_lease=eng.max_lease)
            return (200 if req.dry_run else 201), eng.submit(req)
        if path == PREFIX + "/stop" and method == "POST":
            if self._json(body) != {}:
                raise FaultError(400, "expected an empty object {}", "body")
            seen["kind"] = "stop"
            return 200, {"reverted": eng.revert_all()}
        sub = path[len(PREFIX) + 1 :]
        if sub and "/" not in sub and sub != "stop":
            if method == "DELETE":
                seen["id"] = sub if _ID.fullmatch(sub) else "-"
                fault = eng.revert(sub)
                seen["kind"] = fault["kind"]
                return 200, fault
            raise FaultError(405, f"{method} is not allowed on {path}")
        if path in (PREFIX, PREFIX + "/stop"):
            raise FaultError(405, f"{method} is not allowed on {path}")
        raise FaultError(404, f"no such endpoint: {path}")

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except RecursionError:
            raise FaultError(400, "nested too deeply", "body") from None
        except (UnicodeDecodeError, ValueError) as e:
            raise FaultError(400, f"not UTF-8 JSON: {e}", "body") from None

    def metrics_text(self) -> str:
        name = "microrack_agent_chaos_requests_total"
        lines = [
            f"# HELP {name} Fault requests this agent answered, by kind and outcome.",
            f"# TYPE {name} counter",
        ]
        with self._lock:
            for (kind, outcome), n in sorted(self._counts.items()):
                lines.append(f'{name}{{kind="{_escape(kind)}",outcome="{_escape(outcome)}"}} {n}')
        active = self.engine.active()
        lines += [
            "# HELP microrack_agent_chaos_active_faults Faults this agent holds now.",
            "# TYPE microrack_agent_chaos_active_faults gauge",
            f"microrack_agent_chaos_active_faults {len(active)}",
        ]
        return "\n".join(lines) + "\n"
