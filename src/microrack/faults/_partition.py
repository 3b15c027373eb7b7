"""partition: nftables rules toward the peers, and tc netem delay on the peers' packets only."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from microrack.faults._base import FaultKind, NodeContext
from microrack.faults._spec import (
    FaultError,
    FaultRequest,
    ifb_name,
    nft_partition,
    nft_partition_revert,
    plan_commands,
    tc_netem,
    tc_netem_in,
    tc_netem_revert,
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
                self._netem(req, ctx, undo)
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

    @staticmethod
    def _refuse_taken(devs: Sequence[str], inbound: bool, ctx: NodeContext) -> None:
        """409/422 before anything is changed when a device's qdisc is not ours to replace."""
        for dev in devs:
            if inbound:
                shown = ctx.run(["tc", "qdisc", "show", "dev", dev, "ingress"], None)
                if "ingress" in shown:
                    raise FaultError(
                        409,
                        f"{dev} already has an ingress qdisc (another inbound delay fault, "
                        "or the node's own), which delay would need",
                        "params.delay_ms",
                    )
                continue
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

    def _netem(self, req: FaultRequest, ctx: NodeContext, undo: dict[str, Any]) -> None:
        """Apply the delay; ``undo`` gets what removes it before each change is made."""
        p = req.params
        devs = self.devices(p["peers"], ctx)
        inbound = p["direction"] == "in"
        self._refuse_taken(devs, inbound, ctx)
        if inbound:  # what arrives from the peers, through an ifb device
            ifb = ifb_name(req.id)
            undo["netem_ifb"] = ifb
            undo["netem_devs"] = devs
            calls = tc_netem_in(devs, ifb, p)
        else:  # what this node sends to the peers
            undo["netem_devs"] = devs
            calls = [argv for dev in devs for argv in tc_netem(dev, p)]
        for argv in calls:
            try:
                ctx.run(argv, None)
            except FaultError as e:
                raise _qdisc_error(argv, e) from None

    def revert(self, undo: Mapping[str, Any], ctx: NodeContext) -> None:
        for argv in tc_netem_revert(list(undo.get("netem_devs", [])), undo.get("netem_ifb")):
            with contextlib.suppress(FaultError):  # gone already, or never made
                ctx.run(argv, None)
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
    module = {
        "ifb": "ifb",
        "ingress": "sch_ingress",
        "prio": "sch_prio",
        "netem": "sch_netem",
    }
    if argv[1] == "filter":  # its words name both the classifier and the action
        low = e.message.lower()
        what = "act_mirred" if "mirred" in low or "action" in low else "cls_u32"
    else:
        what = next((m for k, m in module.items() if k in argv), "")
    if what and (
        "unknown" in e.message.lower()
        or "no such file" in e.message.lower()
        or "not supported" in e.message.lower()
        or "talking to the kernel" in e.message
    ):
        return FaultError(
            422,
            "delay_ms needs the kernel's sch_netem qdisc (outbound in a sch_prio band with "
            "cls_u32 filters, inbound on an ifb device fed by act_mirred from sch_ingress); "
            f"this node lacks {what} ({e.message})",
            "params.delay_ms",
        )
    return FaultError(e.status, e.message, "params.delay_ms")
