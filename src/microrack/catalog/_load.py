"""Read and check catalog files.

Checked with plain code rather than pydantic so that the agent, which looks up
its board on a 1 GB node, pays for nothing but PyYAML.  Every problem raises
one :class:`~microrack.errors.ConfigError` naming the file and the field path
(``boards[3].power.idle_w``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from microrack._yaml import read_yaml
from microrack.catalog._model import (
    Backplane,
    BoardProfile,
    Carrier,
    FanPoint,
    Hpl,
    LaneSharing,
    M2Slot,
    Nic,
    PoE,
    Quantity,
    RamVariant,
    Source,
    ThermalProfile,
    Video,
)
from microrack.errors import ConfigError

__all__ = ["RawCatalog", "merge", "read_file", "read_packaged"]

# libyaml's safe loader when PyYAML was built with it: 5-10x faster on small boards
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ISAS = ("arm64", "armv7", "riscv64", "x86_64")
POE_SUPPORT = ("none", "native", "hat", "carrier")
M2_VIA = ("onboard", "hat", "carrier")
EMMC = ("none", "socket", "onboard", "module")
POWER_AT = ("wall", "usb_input")
BONDS = ("lacp",)
SHARED_WITH = ("backplane",)


class RawCatalog:
    """What one file contributed: sources, thermal profiles and boards, still by id."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self.thermal_profiles: dict[str, ThermalProfile] = {}
        # board id -> (file, field path, raw mapping); built into profiles after merging
        self.boards: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.files: list[str] = []


class _Node:
    """A position in a parsed YAML file: checks values and names the field path on error."""

    def __init__(self, path: str, field: str, value: Any) -> None:
        self.path, self.field, self.value = path, field, value

    def err(self, message: str, sub: str | None = None) -> ConfigError:
        return ConfigError(self.path, self._join(sub) if sub else self.field or None, message)

    def _join(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.field}[{key}]"
        return f"{self.field}.{key}" if self.field else key

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.err(f"expected a mapping, got {_kind(self.value)}")
        return self.value

    def get(self, key: str, *, required: bool = True) -> _Node | None:
        data = self.mapping()
        if key not in data or data[key] is None:
            if required:
                raise self.err("required field is missing", key)
            return None
        return _Node(self.path, self._join(key), data[key])

    def req(self, key: str) -> _Node:
        node = self.get(key)
        assert node is not None
        return node

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.err(f"expected a list, got {_kind(self.value)}")
        return [_Node(self.path, self._join(i), v) for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.err(f"expected text, got {_kind(self.value)}")
        return self.value

    def choice(self, allowed: tuple[str, ...]) -> str:
        value = self.text()
        if value not in allowed:
            raise self.err(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.err(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.err(f"expected a number, got {_kind(self.value)}")
        if self.value < 0:
            raise self.err(f"expected a number >= 0, got {self.value}")
        return float(self.value)

    def quantity(self, sources: Mapping[str, Source] | None) -> Quantity:
        """``{value: V, source: ID}`` or ``{value: V, estimate: true, basis: ...}``."""
        data = self.mapping()
        if "value" not in data:
            raise self.err("required field is missing", "value")
        source, estimate = data.get("source"), data.get("estimate")
        if source is None and estimate is not True:
            raise self.err("a number needs `source: ID` or `estimate: true`")
        if source is not None:
            if not isinstance(source, str):
                raise self.err(f"expected a source id, got {_kind(source)}", "source")
            if sources is not None and source not in sources:
                raise self.err(f"unknown source {source!r} (not in `sources:`)", "source")
        value = data["value"]
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            sub = _Node(self.path, self._join("value"), v)
            if isinstance(value, list):
                sub = _Node(self.path, f"{self._join('value')}[{i}]", v)
            sub.number()
        basis = data.get("basis")
        note = data.get("note")
        others: list[Quantity] = []
        also = self.get("also", required=False)
        for other in also.items() if also is not None else []:
            if isinstance(other.value, dict) and "also" in other.value:
                raise other.err("`also` entries cannot nest", "also")
            found = other.quantity(sources)
            if found.source is None:
                raise other.err("a disagreeing value needs its `source: ID`", "source")
            others.append(found)
        return Quantity(
            value=tuple(value) if isinstance(value, list) else value,
            source=source,
            basis=str(basis) if basis is not None else None,
            note=str(note) if note is not None else None,
            others=tuple(others),
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def read_packaged() -> RawCatalog:
    """The catalog shipped inside the package."""
    data = resources.files("microrack.catalog") / "data" / "boards.yaml"
    with resources.as_file(data) as path:
        return read_file(os.fspath(path))


def read_file(path: str | os.PathLike[str], base: RawCatalog | None = None) -> RawCatalog:
    """Parse one catalog file.  ``base`` supplies sources and profiles it may refer to."""
    path = os.fspath(path)
    doc = read_yaml(path, _LOADER)
    root = _Node(path, "", doc if doc is not None else {})
    root.mapping()
    unknown = set(root.mapping()) - {"schema_version", "sources", "thermal_profiles", "boards"}
    if unknown:
        raise root.err("unknown top-level field", sorted(unknown)[0])
    raw = RawCatalog()
    raw.files.append(path)
    if base is not None:
        raw.sources.update(base.sources)
        raw.thermal_profiles.update(base.thermal_profiles)
    sources_node = root.get("sources", required=False)
    if sources_node is not None:
        for sid, entry in sources_node.mapping().items():
            node = _Node(path, f"sources.{sid}", entry)
            raw.sources[sid] = Source(
                id=sid,
                title=node.req("title").text(),
                url=str(node.mapping().get("url", "")),
                kind=str(node.mapping().get("kind", "")),
            )
    profiles_node = root.get("thermal_profiles", required=False)
    if profiles_node is not None:
        for name, entry in profiles_node.mapping().items():
            node = _Node(path, f"thermal_profiles.{name}", entry)
            raw.thermal_profiles[name] = _thermal_profile(name, node, raw.sources)
    boards_node = root.get("boards", required=False)
    seen: set[str] = set()
    for node in boards_node.items() if boards_node is not None else []:
        board_id = node.req("id").text()
        if board_id in seen:
            raise node.err(f"board {board_id!r} appears twice in this file", "id")
        seen.add(board_id)
        raw.boards[board_id] = (path, node.field, node.mapping())
    return raw


def merge(base: RawCatalog, extra: RawCatalog) -> RawCatalog:
    """``extra`` adds boards and replaces those with the same id."""
    out = RawCatalog()
    out.files = base.files + extra.files
    out.sources = {**base.sources, **extra.sources}
    out.thermal_profiles = {**base.thermal_profiles, **extra.thermal_profiles}
    out.boards = {**base.boards, **extra.boards}
    return out


def _thermal_profile(name: str, node: _Node, sources: Mapping[str, Source]) -> ThermalProfile:
    facts: dict[str, Quantity] = {}

    def q(key: str, required: bool = True) -> float | None:
        sub = node.get(key, required=required)
        if sub is None:
            return None
        facts[key] = sub.quantity(sources)
        return float(facts[key].value)

    soft, hard = q("throttle_soft_c"), q("throttle_hard_c")
    assert soft is not None and hard is not None
    if soft > hard:
        raise node.err(f"soft limit {soft} C is above the hard limit {hard} C", "throttle_soft_c")
    points: list[FanPoint] = []
    curve = node.get("fan_curve", required=False)
    for point in curve.items() if curve is not None else []:
        temp = point.req("temp_c").quantity(sources)
        duty = point.req("duty").number()
        if duty > 1:
            raise point.err(f"expected a duty ratio 0..1, got {duty}", "duty")
        points.append(FanPoint(float(temp.value), duty))
    note = node.get("note", required=False)
    return ThermalProfile(
        name=name,
        throttle_soft_c=soft,
        throttle_hard_c=hard,
        critical_c=q("critical_c", required=False),
        fan_curve=tuple(points),
        hysteresis_c=q("hysteresis_c", required=False),
        note=note.text() if note else None,
        noise_dba=q("noise_dba", required=False),
        facts=MappingProxyType(facts),
    )


def build_board(raw: RawCatalog, board_id: str) -> BoardProfile:
    """Check one board's raw mapping and turn it into a :class:`BoardProfile`."""
    path, field, data = raw.boards[board_id]
    node = _Node(path, field, data)
    sources = raw.sources
    facts: dict[str, Quantity] = {}

    def q(sub: _Node, name: str) -> Quantity:
        facts[name] = sub.quantity(sources)
        return facts[name]

    cores = q(node.req("cores"), "cores")
    max_mhz = q(node.req("max_mhz"), "max_mhz")
    variants: list[RamVariant] = []
    for i, v in enumerate(node.req("variants").items()):
        vf: dict[str, Quantity] = {}
        vf["ram_gb"] = v.req("ram_gb").quantity(sources)
        price = v.get("price_usd", required=False)
        if price is not None:
            vf["price_usd"] = price.quantity(sources)
        for key in ("idle_w", "load_w"):
            sub = v.get(key, required=False)
            if sub is not None:
                vf[key] = sub.quantity(sources)
        for key, qty in vf.items():
            facts[f"variants[{i}].{key}"] = qty
        variants.append(
            RamVariant(
                ram_gb=float(vf["ram_gb"].value),
                price_usd=float(vf["price_usd"].value) if "price_usd" in vf else None,
                idle_w=float(vf["idle_w"].value) if "idle_w" in vf else None,
                load_w=float(vf["load_w"].value) if "load_w" in vf else None,
                facts=MappingProxyType(vf),
            )
        )
    if not variants:
        raise node.err("at least one RAM variant is needed", "variants")
    nics = _nics(node.req("nics"), "nics", q, sources)
    backplane = None
    bp = node.get("backplane", required=False)
    if bp is not None:
        bp_uplink = bp.get("uplink_gbps", required=False)
        backplane = Backplane(
            name=bp.req("name").text(),
            speed_gbps=float(q(bp.req("speed_gbps"), "backplane.speed_gbps").value),
            uplink_gbps=float(q(bp_uplink, "backplane.uplink_gbps").value) if bp_uplink else 0.0,
        )
    sharing = None
    ls = node.get("lane_sharing", required=False)
    if ls is not None:
        lanes = int(q(ls.req("lanes"), "lane_sharing.lanes").value)
        m2_lanes = int(q(ls.req("m2_lanes"), "lane_sharing.m2_lanes").value)
        if m2_lanes > lanes:
            raise ls.err(f"{m2_lanes} M.2 lanes out of {lanes}", "m2_lanes")
        with_node = ls.get("shared_with", required=False)
        shared_with = with_node.choice(SHARED_WITH) if with_node else "backplane"
        if shared_with == "backplane" and backplane is None:
            raise ls.err("lanes shared with a backplane the board does not have", "shared_with")
        sharing = LaneSharing(lanes, m2_lanes, shared_with)
    hpl = None
    hn = node.get("hpl", required=False)
    if hn is not None:
        watts = hn.get("watts", required=False)
        hpl = Hpl(
            gflops=float(q(hn.req("gflops"), "hpl.gflops").value),
            watts=float(q(watts, "hpl.watts").value) if watts else None,
        )
        if hpl.gflops <= 0:
            raise hn.err("expected Gflops > 0", "gflops")
    measured = node.get("measured_mhz", required=False)
    noise = node.get("noise_dba", required=False)
    emmc_gb = node.get("emmc_gb", required=False)
    sd = node.get("sd_card", required=False)
    slots = []
    m2 = node.get("m2", required=False)
    for i, s in enumerate(m2.items() if m2 is not None else []):
        lengths = q(s.req("lengths"), f"m2[{i}].lengths")
        extra = s.get("extra_usd", required=False)
        slots.append(
            M2Slot(
                key=s.req("key").choice(("M", "E", "B", "B+M")),
                lengths=tuple(
                    int(x)
                    for x in (
                        lengths.value if isinstance(lengths.value, tuple) else (lengths.value,)
                    )
                ),
                via=s.req("via").choice(M2_VIA),
                pcie_gen=int(q(s.req("pcie_gen"), f"m2[{i}].pcie_gen").value),
                pcie_lanes=int(q(s.req("pcie_lanes"), f"m2[{i}].pcie_lanes").value),
                nvme=s.req("nvme").boolean(),
                sata=s.req("sata").boolean(),
                extra_usd=float(q(extra, f"m2[{i}].extra_usd").value) if extra else 0.0,
            )
        )
    sata = node.get("sata_ports", required=False)
    sata_ports = int(q(sata, "sata_ports").value) if sata else 0
    poe_node = node.req("poe")
    support = poe_node.req("support").choice(POE_SUPPORT)
    poe_extra = poe_node.get("extra_usd", required=False)
    standard = poe_node.get("standard", required=False)
    pd_class = poe_node.get("pd_class", required=False)
    if support != "none" and pd_class is None:
        raise poe_node.err("a board with PoE needs its PD class (0-8)", "pd_class")
    poe = PoE(
        support=support,
        standard=standard.text() if standard else None,
        pd_class=int(pd_class.number()) if pd_class else None,
        extra_usd=float(q(poe_extra, "poe.extra_usd").value) if poe_extra else 0.0,
    )
    power = node.req("power")
    idle = q(power.req("idle_w"), "idle_w")
    load = q(power.req("load_w"), "load_w")
    if float(idle.value) > float(load.value):
        raise power.err(f"idle {idle.value} W is above full load {load.value} W", "idle_w")
    psu = power.get("psu_w", required=False)
    profile_node = node.req("thermal_profile")
    profile_name = profile_node.text()
    if profile_name not in raw.thermal_profiles:
        known = ", ".join(sorted(raw.thermal_profiles))
        raise profile_node.err(f"unknown thermal profile {profile_name!r} (known: {known})")
    profile = raw.thermal_profiles[profile_name]
    facts["throttle_soft_c"] = profile.facts["throttle_soft_c"]
    facts["throttle_hard_c"] = profile.facts["throttle_hard_c"]
    video_node = node.req("video")
    video = Video(
        decode=_opt_text(video_node.mapping().get("decode")),
        encode=_opt_text(video_node.mapping().get("encode")),
        hw_transcode=video_node.req("hw_transcode").boolean(),
    )
    carrier = None
    cn = node.get("carrier", required=False)
    if cn is not None:
        uplinks = cn.get("uplinks", required=False)
        carrier = Carrier(
            name=cn.req("name").text(),
            nodes=int(q(cn.req("nodes"), "carrier.nodes").value),
            price_usd=float(q(cn.req("price_usd"), "carrier.price_usd").value),
            idle_w=float(q(cn.req("idle_w"), "carrier.idle_w").value),
            uplinks=_nics(uplinks, "carrier.uplinks", q, sources) if uplinks else (),
        )
        if carrier.nodes < 1:
            raise cn.err("a carrier holds at least one node", "nodes")
    aliases_node = node.get("aliases", required=False)
    aliases = tuple(a.text() for a in aliases_node.items()) if aliases_node else ()
    cheapest = min(variants, key=lambda v: (v.price_usd is None, v.price_usd or 0, v.ram_gb))
    name = node.req("name").text()
    return BoardProfile(
        id=board_id,
        name=name,
        soc=str(node.req("soc").value),
        isa=node.req("isa").choice(ISAS),
        cores=int(cores.value),
        max_mhz=int(max_mhz.value),
        idle_w=cheapest.idle_w if cheapest.idle_w is not None else float(idle.value),
        load_w=cheapest.load_w if cheapest.load_w is not None else float(load.value),
        power_source=power.req("measured_at").choice(POWER_AT),
        throttle_soft_c=profile.throttle_soft_c,
        throttle_hard_c=profile.throttle_hard_c,
        thermal_profile=profile_name,
        has_nvme_slot=any(s.nvme for s in slots),
        price_usd=cheapest.price_usd,
        ram_gb=cheapest.ram_gb,
        aliases=aliases,
        confidence=str(data.get("confidence", "medium")),
        core_type=_opt_text(data.get("core_type")),
        variants=tuple(variants),
        nics=tuple(nics),
        backplane=backplane,
        m2_slots=tuple(slots),
        sata_ports=sata_ports,
        emmc=node.req("emmc").choice(EMMC),
        poe=poe,
        video=video,
        carrier=carrier,
        psu_w=float(q(psu, "psu_w").value) if psu else None,
        notes=_opt_text(data.get("notes")),
        emmc_gb=float(q(emmc_gb, "emmc_gb").value) if emmc_gb else None,
        sd_card=sd.boolean() if sd else False,
        lane_sharing=sharing,
        hpl=hpl,
        measured_mhz=int(q(measured, "measured_mhz").value) if measured else None,
        noise_dba=float(q(noise, "noise_dba").value) if noise else _cooler_noise(profile, facts),
        facts=MappingProxyType(facts),
    )


def _cooler_noise(profile: ThermalProfile, facts: dict[str, Quantity]) -> float | None:
    """The cooler's measured noise stands for a board that has no figure of its own."""
    if profile.noise_dba is None:
        return None
    facts["noise_dba"] = profile.facts["noise_dba"]
    return profile.noise_dba


def _nics(
    node: _Node, name: str, q: Callable[[_Node, str], Quantity], sources: Mapping[str, Source]
) -> tuple[Nic, ...]:
    """``[{count, speed_gbps, uplink?, bond?, note?}]``: ports of one speed each."""
    out = []
    for i, n in enumerate(node.items()):
        count = q(n.req("count"), f"{name}[{i}].count")
        speed = q(n.req("speed_gbps"), f"{name}[{i}].speed_gbps")
        note = n.mapping().get("note")
        uplink = n.get("uplink", required=False)
        bond = n.get("bond", required=False)
        bond_source = n.get("bond_source", required=False)
        if bond is not None and bond_source is None:
            raise n.err("bonding needs its `bond_source: ID`", "bond_source")
        if bond_source is not None and bond_source.text() not in sources:
            raise bond_source.err(f"unknown source {bond_source.value!r} (not in `sources:`)")
        out.append(
            Nic(
                int(count.value),
                float(speed.value),
                str(note) if note else None,
                uplink=uplink.boolean() if uplink else True,
                bond=bond.choice(BONDS) if bond else None,
                bond_source=bond_source.text() if bond_source else None,
            )
        )
    return tuple(out)


def _opt_text(value: Any) -> str | None:
    return None if value is None or value == "none" else str(value)
