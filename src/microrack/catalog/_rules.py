"""Planning rules: the facts the planner's arithmetic rests on, read from data.

Electricity, PoE classes, quorum, Ceph and Kubernetes minimums live in
``data/planning_rules.yaml`` with their sources; this module reads the numbers
the planner needs into one typed value and keeps the whole document for display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from microrack.catalog._quorum import ceph_pool_size_for, quorum_members_for, quorum_tolerates
from microrack.errors import ConfigError

__all__ = ["PlanningRules", "PoEClass", "read_rules"]

# libyaml's safe loader when PyYAML was built with it: 5-10x faster on small boards
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class PoEClass:
    standard: str
    classes: tuple[int, ...]
    pse_w: float  # what the switch reserves per port in class allocation
    pd_w: float  # what the device is guaranteed after 100 m of cable


@dataclass(frozen=True, slots=True)
class PlanningRules:
    """Numbers with sources in ``planning_rules.yaml``; see there for each citation."""

    kwh_per_watt_year: float  # 8.766: one watt around the clock for a year, in kWh
    usb_psu_efficiency: float  # wall watts = watts measured at a USB input / this
    poe_classes: tuple[PoEClass, ...]
    pd_hat_efficiency: float
    ceph_osd_memory_gb: float
    ceph_min_osd_memory_gb: float
    ceph_min_monitors: int
    ceph_replica_size: int
    ceph_min_size: int
    kubeadm_min_ram_gb: float
    kubeadm_min_cpus: int
    k3s_server_gb: float
    k3s_agent_gb: float
    document: Mapping[str, Any] = field(compare=False, repr=False)

    def poe_reservation_w(self, pd_class: int) -> float:
        """Watts a switch reserves for a port in class allocation mode."""
        for entry in self.poe_classes:
            if pd_class in entry.classes:
                return entry.pse_w
        raise ValueError(f"no PoE class {pd_class}")

    # the arithmetic itself lives in microrack.catalog._quorum
    quorum_tolerates = staticmethod(quorum_tolerates)
    quorum_members_for = staticmethod(quorum_members_for)

    def ceph_pool_size(self, failures: int) -> int:
        """Replicas a pool needs to keep ``ceph_min_size`` after ``failures`` host losses."""
        return ceph_pool_size_for(failures, self.ceph_replica_size, self.ceph_min_size)


def _classes(text: str) -> tuple[int, ...]:
    lo, _, hi = str(text).partition("-")
    return tuple(range(int(lo), int(hi or lo) + 1))


def read_rules(path: str | None = None) -> PlanningRules:
    if path is None:
        ref = resources.files("microrack.catalog") / "data" / "planning_rules.yaml"
        with resources.as_file(ref) as p:
            path = os.fspath(p)
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=_LOADER)
    where = "planning_rules"
    try:
        rules = doc["planning_rules"]
        formula = rules["electricity"]["formulas"]["annual_kwh"]
        kwh = float(formula.split("*")[1])
        usb_psu = float(rules["electricity"]["usb_psu_efficiency"]["value"])
        where = "planning_rules.poe"
        poe = rules["poe"]
        classes = tuple(
            PoEClass(
                standard=str(e["standard"]),
                classes=_classes(e["class"]),
                pse_w=float(e["pse_w"]["value"]),
                pd_w=float(e["pd_w"]["value"]),
            )
            for e in poe["per_port"]
        )
        where = "planning_rules.ceph"
        ceph = rules["ceph"]
        where = "planning_rules.kubernetes"
        k8s = rules["kubernetes"]
        return PlanningRules(
            kwh_per_watt_year=kwh,
            usb_psu_efficiency=usb_psu,
            poe_classes=classes,
            pd_hat_efficiency=float(poe["pd_hat_efficiency"]["value"]),
            ceph_osd_memory_gb=float(ceph["osd_memory_target_default_gb"]["value"]),
            ceph_min_osd_memory_gb=float(ceph["min_osd_memory_target_gb"]["value"]),
            ceph_min_monitors=int(ceph["min_monitors"]["value"]),
            ceph_replica_size=int(ceph["default_replica_size"]["value"]),
            ceph_min_size=int(ceph["default_min_size"]["value"]),
            kubeadm_min_ram_gb=float(k8s["kubeadm_min_ram_gb"]["value"]),
            kubeadm_min_cpus=int(k8s["kubeadm_min_cpus_control_plane"]["value"]),
            k3s_server_gb=float(k8s["k3s_server_with_workload_mb_pi4"]["value"]) / 1024,
            k3s_agent_gb=float(k8s["k3s_agent_mb_pi4"]["value"]) / 1024,
            document=MappingProxyType(rules),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(path, where, f"missing or malformed: {exc}") from None
