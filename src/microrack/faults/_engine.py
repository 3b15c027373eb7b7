"""Leases: faults applied now and reverted at their deadline by a dead-man timer.

Every applied fault is written to the state file (atomically) *before* the
request is answered, with what reverting it needs; a fault is dropped from the
file only after it was reverted.  On start-up, :meth:`FaultEngine.recover`
reverts whatever a killed predecessor left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from microrack.faults._kinds import KIND_CLASSES, NodeContext
from microrack.faults._spec import KINDS, NFT_TABLE, FaultError, FaultRequest

__all__ = ["DEFAULT_STATE", "FaultEngine"]

log = logging.getLogger(__name__)
DEFAULT_STATE = "/var/lib/microrack/chaos-state.json"
RETRY_S = 10.0  # a revert that failed is tried again this much later


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "kind", "node", "started_unix", "deadline_unix", "commands", "reverted_unix")
    return {k: rec[k] for k in keys if k in rec}


class FaultEngine:
    """Applies, lists and reverts faults of one node. Thread-safe."""

    def __init__(
        self,
        ctx: NodeContext,
        *,
        allow: Iterable[str] = (),
        state_path: str | Path = DEFAULT_STATE,
        max_lease: float = 3600.0,
    ) -> None:
        self.ctx = ctx
        self.allow = frozenset(allow)
        unknown = self.allow - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self.state_path = Path(state_path)
        self.max_lease = max_lease
        self._active: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._thread: threading.Thread | None = None

    # --- state file ---------------------------------------------------------------

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        data = {"node": self.ctx.node, "faults": list(self._active.values())}
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def recover(self) -> list[str]:
        """Revert every fault the state file still lists (a killed agent's leftovers)."""
        with self._lock:
            try:
                data = json.loads(self.state_path.read_text(encoding="utf-8"))
                left = [r for r in data.get("faults", []) if isinstance(r, dict)]
            except FileNotFoundError:
                left = []
            except (OSError, ValueError, AttributeError) as e:
                log.error(
                    "chaos state %s unreadable (%s): reverting what can be found",
                    self.state_path,
                    e,
                )
                left = []
            done: list[str] = []
            failed: list[dict[str, Any]] = []
            for rec in left:
                try:
                    KIND_CLASSES[rec["kind"]].revert(rec["undo"], self.ctx)
                    done.append(str(rec["id"]))
                    log.warning(
                        "chaos: reverted leftover fault node=%s kind=%s id=%s",
                        self.ctx.node,
                        rec["kind"],
                        rec["id"],
                    )
                except (FaultError, OSError, KeyError, TypeError, ValueError, AttributeError) as e:
                    log.error(
                        "chaos: cannot revert leftover fault %s: %s (kept, retried)",
                        rec.get("id"),
                        e,
                    )
                    if rec.get("kind") in KIND_CLASSES and isinstance(rec.get("id"), str):
                        # kept (in the file and the API) and retried by the timer
                        failed.append(rec)
            if "partition" in self.allow or any(r.get("kind") == "partition" for r in left):
                # the table is this agent's alone: whatever is in it is a leftover
                with contextlib.suppress(FaultError):
                    self.ctx.run(["nft", "delete", "table", *NFT_TABLE.split()], None)
            self._active = {r["id"]: {**r, "deadline_unix": time.time() + RETRY_S} for r in failed}
            if left or self.state_path.exists():
                self._save()
            return done

    # --- operations ---------------------------------------------------------------

    def submit(self, req: FaultRequest) -> dict[str, Any]:
        """Apply ``req`` (or only plan it, for a dry run); the fault as the API shows it."""
        if req.kind not in self.allow:
            raise FaultError(
                403,
                f"this node does not accept {req.kind} faults "
                f"(--chaos-allow: {', '.join(sorted(self.allow)) or 'none'})",
                "kind",
            )
        if req.duration_s > self.max_lease:
            raise FaultError(
                400,
                f"{req.duration_s:g} s is longer than --chaos-max-lease {self.max_lease:g} s",
                "duration_s",
            )
        kind = KIND_CLASSES[req.kind]
        with self._lock:
            if req.id in self._active:
                raise FaultError(409, f"fault {req.id!r} is already active", "id")
            kind.check(req, self.ctx)
            now = time.time()
            rec: dict[str, Any] = {
                "id": req.id,
                "kind": req.kind,
                "node": self.ctx.node,
                "started_unix": now,
                "deadline_unix": now + req.duration_s,
                "commands": kind.plan(req, self.ctx),
            }
            if req.dry_run:
                return _public(rec)
            try:
                rec["undo"] = kind.apply(req, self.ctx, rec["deadline_unix"])
            except OSError as e:
                raise FaultError(422, f"cannot apply {req.kind}: {e}") from None
            self._active[req.id] = rec
            try:
                self._save()
            except OSError as e:
                kind.revert(rec["undo"], self.ctx)
                del self._active[req.id]
                raise FaultError(
                    422, f"cannot write the chaos state {self.state_path}: {e.strerror}"
                ) from None
            self._wake.notify_all()
            return _public(rec)

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(r) for r in self._active.values()]

    def revert(self, fault_id: str) -> dict[str, Any]:
        with self._lock:
            rec = self._active.get(fault_id)
            if rec is None:
                raise FaultError(404, f"no active fault {fault_id!r}")
            return self._revert(rec)

    def revert_all(self) -> list[str]:
        with self._lock:
            ids = list(self._active)
            for fid in ids:
                self._revert(self._active[fid])
            return ids

    def _revert(self, rec: dict[str, Any]) -> dict[str, Any]:
        try:
            KIND_CLASSES[rec["kind"]].revert(rec["undo"], self.ctx)
        except (FaultError, OSError) as e:
            # kept in the state file: the next start-up tries again
            log.error(
                "chaos: cannot revert node=%s kind=%s id=%s: %s",
                self.ctx.node,
                rec["kind"],
                rec["id"],
                e,
            )
            raise FaultError(422, f"cannot revert {rec['id']}: {e}") from None
        del self._active[rec["id"]]
        self._save()
        out = _public(rec)
        out["reverted_unix"] = time.time()
        log.warning("chaos: reverted node=%s kind=%s id=%s", self.ctx.node, rec["kind"], rec["id"])
        return out

    # --- the dead-man timer -------------------------------------------------------

    def start(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._timer, name="chaos-lease", daemon=True)
        self._thread.start()

    def _timer(self) -> None:
        with self._lock:
            while not self._stop:
                now = time.time()
                for rec in [r for r in self._active.values() if r["deadline_unix"] <= now]:
                    try:
                        self._revert(rec)
                    except FaultError:
                        rec["deadline_unix"] = now + RETRY_S  # try again later
                nxt = min((r["deadline_unix"] for r in self._active.values()), default=now + 60)
                self._wake.wait(max(0.01, min(60.0, nxt - time.time())))

    def stop(self) -> None:
        """Revert everything and stop the timer (the agent is shutting down)."""
        with self._lock:
            self._stop = True
            for fid in list(self._active):
                with contextlib.suppress(FaultError):
                    self._revert(self._active[fid])
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
