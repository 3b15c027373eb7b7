"""partition: nftables rules toward the peers, and tc netem delay on the peers' packets only."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from microrack.faults._base import FaultKind, NodeContext
from microrack.faults._spec import (
    FaultError,
    FaultRequest,
    nft_partition,
    nft_partition_revert,
    plan_commands,
    tc_netem,
)

__all__ = ["Partition"]


class Partition(FaultKind):
    name = "partition"

    def plan(self, req: FaultRequest, ctx: NodeContext) -> list[str]:
        facts = ctx.facts()
        if req.params["delay_ms"]:
            with contextlib.suppress(FaultError):  # no ip here: the plan says DEV
                facts["netem_devs"] = self.devices(req.params["peers"], ctx)
        return plan_commands(
            req.kind, req.params, facts, fault_id=req.id, duration_s=req.duration_s
        )

    def apply(self, req: FaultRequest, ctx: NodeContext, deadline: float) -> dict[str, Any]:
        p = req.params
        undo: dict[str, Any] = {"id": req.id, "direction": p["direction"]}
        ctx.run(["nft", "-f", "-"], "\n".join(nft_partition(req.id, p, req.duration_s)) + "\n")
        if p["delay_ms"]:
            try:
                undo["netem_devs"] = self._netem(p, ctx)
            except FaultError:
                self.revert(undo, ctx)
                raise
        return undo

    @staticmethod
    def devices(peers: Sequence[str], ctx: NodeContext) -> list[str]:
        """The network devices this node reaches ``peers`` through (its routes)."""
        devs: list[str] = []
        for peer in peers:
            out = ctx.run(["ip", "-o", "route", "get", peer.split("/")[0]], None).split()
            if "dev" in out and out[out.index("dev") + 1] not in devs:
                devs.append(out[out.index("dev") + 1])
        return devs

    def _netem(self, p: Mapping[str, Any], ctx: NodeContext) -> list[str]:
        devs = self.devices(p["peers"], ctx)
        for dev in devs:  # refuse before anything is changed
            root = ctx.run(["tc", "qdisc", "show", "dev", dev, "root"], None).split()
            kind = root[1] if len(root) > 1 and root[0] == "qdisc" else ""
            if kind and kind not in _DEFAULT_QDISCS:
                raise FaultError(
                    409 if kind == "prio" else 422,
                    f"{dev} already has a {kind} root qdisc"
                    + (
                        " (another delay fault?)"
                        if kind == "prio"
                        else ", which delay would replace"
                    ),
                    "params.delay_ms",
                )
        done: list[str] = []
        for dev in devs:
            done.append(dev)
            for argv in tc_netem(dev, p):
                try:
                    ctx.run(argv, None)
                except FaultError as e:
                    for d in done:
                        with contextlib.suppress(FaultError):
                            ctx.run(["tc", "qdisc", "del", "dev", d, "root"], None)
                    raise _qdisc_error(argv, e) from None
        return done

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        for dev in undo.get("netem_devs", []):
            with contextlib.suppress(FaultError):
                ctx.run(["tc", "qdisc", "del", "dev", dev, "root"], None)
        try:
            ctx.run(
                ["nft", "-f", "-"],
                "\n".join(nft_partition_revert(undo["id"], undo["direction"])) + "\n",
            )
        except FaultError as e:
            if "No such file" not in e.message:  # gone already (the table was deleted)
                raise


#: Root qdiscs a kernel sets up by itself: deleting ours brings them back.
_DEFAULT_QDISCS = ("noqueue", "pfifo_fast", "mq", "fq_codel", "fq", "pfifo")


def _qdisc_error(argv: Sequence[str], e: FaultError) -> FaultError:
    """The 422 of a refused tc call, naming the kernel module that is missing."""
    module = {"prio": "sch_prio", "netem": "sch_netem", "u32": "cls_u32"}
    what = next((m for k, m in module.items() if k in argv), "")
    if what and (
        "unknown" in e.message.lower()
        or "no such file" in e.message.lower()
        or "not supported" in e.message.lower()
        or "talking to the kernel" in e.message
    ):
        return FaultError(
            422,
            f"delay_ms needs the kernel's sch_netem qdisc (in a sch_prio band, with cls_u32 "
            f"filters); this node lacks {what} ({e.message})",
            "params.delay_ms",
        )
    return FaultError(e.status, e.message, "params.delay_ms")
