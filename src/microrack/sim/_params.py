"""The twin's physical parameters, read from ``data/twin.yaml`` (and ``data/twin_fitted.yaml``).

The catalog (``microrack.catalog``) gives each board's idle and load watts and
its throttle limits, with sources.  Everything else the twin needs -- thermal
resistances and heat capacities per cooler, the SoC family's throttling law,
workload intensities, fan, NVMe and carrier figures -- is a :class:`Param` in
``twin.yaml`` with a ``source`` (an id of the catalog's sources table or of the
file's own), or ``estimate: true`` and a ``basis``.  Values that
``benchmarks/twin_calibrate.py`` fitted live in ``twin_fitted.yaml`` with the
published runs they were fitted to (``fitted_to``), and override ``twin.yaml``.

Parameters are addressed by dotted paths (``families.bcm2711.die.r_js``,
``boards.radxa-rock-5b.workload.hpl``): :meth:`TwinData.with_values` gives a
copy with some of them changed, which is how the calibration searches.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from microrack._yaml import read_yaml
from microrack.errors import ConfigError

__all__ = [
    "COOLERS",
    "KINDS",
    "BoardPhysics",
    "Cooler",
    "Param",
    "TwinData",
    "physics_for",
    "twin_data",
]

DATA_DIR = Path(__file__).with_name("data")
TWIN_FILE = DATA_DIR / "twin.yaml"
FITTED_FILE = DATA_DIR / "twin_fitted.yaml"

#: every cooler the twin models; "fan" and "active_cooler" have a fan the twin drives
COOLERS = ("fan", "active_cooler", "passive_case", "heatsink", "bare")
#: kinds of work a scenario's load names
KINDS = ("idle", "integer", "hpl", "mixed", "io")
_LAWS = ("linear", "ipa")


@dataclass(frozen=True, slots=True)
class Param:
    """One number with where it comes from: a source, an estimate, or a fit to published runs."""

    value: float
    source: str | None = None
    estimate: bool = False
    basis: str = ""
    fit: bool = False  # the calibration may change it
    fitted_to: tuple[str, ...] = ()  # ids of the published runs it was fitted to

    def __post_init__(self) -> None:
        if not self.source and not self.estimate and not self.fitted_to:
            raise ValueError("a twin parameter needs a source, estimate=True or fitted_to")

    def cite(self) -> str:
        if self.fitted_to:
            return "fitted to " + ", ".join(self.fitted_to)
        if self.source:
            return f"source {self.source}"
        return f"estimate ({self.basis})" if self.basis else "estimate"


@dataclass(frozen=True, slots=True)
class Cooler:
    """Sink-to-ambient resistance and the sink's heat capacity of one kind of cooling."""

    r_sa: Param  # K/W, with the fan stopped (or no fan)
    c_sink: Param  # J/K
    r_sa_full: Param | None = None  # K/W at full fan duty (fan coolers only)


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BoardPhysics:
    """Thermal, throttle, workload, fan and NVMe parameters of one kind of board."""

    family: str
    r_js: Param  # K/W die to sink
    c_die: Param  # J/K
    coolers: Mapping[str, Cooler]
    throttle_law: str  # "linear" (Pi firmware ramp) or "ipa" (hold the control temperature)
    min_clock_ratio: Param
    off_w: Param
    fan_w: Param
    fan_rpm_max: Param
    nvme_idle_w: Param
    nvme_active_w: Param
    nvme_r: Param
    nvme_coupling: Param
    nvme_heat_capacity: Param
    workload: Mapping[str, Param] = field(default_factory=lambda: _EMPTY)  # kind -> CPU share
    workload_io: Mapping[str, Param] = field(default_factory=lambda: _EMPTY)  # kind -> drive
    band_k: Param | None = None  # ipa: width of the band around the control temperature
    soft_limit_c: Param | None = None  # a firmware soft limit below the ramp (Pi 3B+)
    soft_limit_clock: Param | None = None
    fan_curve: tuple[tuple[float, float], ...] = ()  # firmware (auto) fan curve, degC -> duty

    def cooler(self, name: str) -> Cooler:
        if name not in self.coolers:
            raise ValueError(f"unknown cooler {name!r}; one of {', '.join(COOLERS)}")
        return self.coolers[name]

    def intensity(self, kind: str) -> float:
        """CPU power share of (load_w - idle_w) at utilisation 1 of work of ``kind``."""
        return self.workload[kind].value

    def io_share(self, kind: str) -> float:
        return self.workload_io[kind].value


# -- reading ----------------------------------------------------------------------------


def _param(node: Any, where: str, path: str, sources: set[str]) -> Param:
    if isinstance(node, int | float) and not isinstance(node, bool):
        raise ConfigError(
            path,
            where,
            "a bare number; write {value: V, source: ID} or {value: V, estimate: true, basis: ...}",
        )
    if not isinstance(node, Mapping) or "value" not in node:
        raise ConfigError(path, where, "expected {value: V, source: ID | estimate: true}")
    value = node["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, f"{where}.value", f"expected a number, got {value!r}")
    source = node.get("source")
    if source is not None and str(source) not in sources:
        raise ConfigError(path, f"{where}.source", f"unknown source {source!r}")
    fitted = tuple(str(r) for r in node.get("fitted_to", ()) or ())
    estimate = bool(node.get("estimate", False))
    if not source and not estimate and not fitted:
        raise ConfigError(path, where, "needs a source, estimate: true or fitted_to")
    return Param(
        float(value),
        str(source) if source else None,
        estimate,
        str(node.get("basis", "") or ""),
        bool(node.get("fit", False)),
        fitted,
    )


def _catalog_sources() -> set[str]:
    from microrack.catalog import load_catalog

    return set(load_catalog().sources)


@dataclass(frozen=True, slots=True)
class TwinData:
    """The parsed parameter file: a tree of :class:`Param` addressed by dotted paths."""

    tree: Mapping[str, Any]
    path: str
    fitted_runs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def read(
        cls, path: str | Path = TWIN_FILE, fitted: str | Path | None = FITTED_FILE
    ) -> TwinData:
        """Read ``path`` and apply the fitted values of ``fitted`` (if it exists)."""
        name = str(path)
        raw = read_yaml(path)
        if not isinstance(raw, dict) or "families" not in raw:
            raise ConfigError(name, None, "expected a mapping with `families:`")
        sources = _catalog_sources() | set((raw.get("sources") or {}).keys())
        tree = _parse(raw, name, sources)
        data = cls(tree, name)
        if fitted is not None and Path(fitted).exists():
            data = data._apply_fitted(fitted)
        return data

    def _apply_fitted(self, fitted: str | Path) -> TwinData:
        name = str(fitted)
        raw = read_yaml(fitted) or {}
        if not isinstance(raw, dict) or not isinstance(raw.get("params", {}), dict):
            raise ConfigError(name, None, "expected a mapping with `params:`")
        values: dict[str, Param] = {}
        for key, node in (raw.get("params") or {}).items():
            where = f"params.{key}"
            old = self.get(str(key), name, where)
            if not isinstance(node, Mapping) or not node.get("fitted_to"):
                raise ConfigError(name, where, "a fitted value needs `fitted_to: [run ids]`")
            p = _param(
                {"value": node.get("value"), "fitted_to": node["fitted_to"]}, where, name, set()
            )
            values[str(key)] = replace(old, value=p.value, fitted_to=p.fitted_to)
        return self._with_params(values)

    def get(self, key: str, path: str | None = None, where: str | None = None) -> Param:
        node: Any = self.tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(path or self.path, where or key, "no such twin parameter")
            node = node[part]
        if not isinstance(node, Param):
            raise ConfigError(path or self.path, where or key, "not a parameter")
        return node

    def params(self, prefix: str = "") -> dict[str, Param]:
        """Every parameter under ``prefix``, by dotted path."""
        out: dict[str, Param] = {}

        def walk(node: Any, at: str) -> None:
            if isinstance(node, Param):
                out[at] = node
            elif isinstance(node, Mapping):
                for k, v in node.items():
                    walk(v, f"{at}.{k}" if at else str(k))

        walk(self.tree, "")
        return {k: v for k, v in out.items() if k.startswith(prefix)}

    def with_values(self, values: Mapping[str, float], fitted_to: tuple[str, ...] = ()) -> TwinData:
        """A copy with the parameters at ``values`` (dotted path -> number) changed."""
        params = {}
        for key, v in values.items():
            old = self.get(key)
            params[key] = replace(old, value=float(v), fitted_to=fitted_to or old.fitted_to)
        return self._with_params(params)

    def _with_params(self, params: Mapping[str, Param]) -> TwinData:
        tree: dict[str, Any] = _thaw(self.tree)
        for key, p in params.items():
            node = tree
            parts = key.split(".")
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = p
        return TwinData(_freeze(tree), self.path)

    # -- one board
    def family_of(self, board_id: str, soc: str = "", isa: str = "") -> str:
        fams: Mapping[str, Any] = self.tree["families"]
        for name, fam in fams.items():
            if board_id in fam["boards"]:
                return str(name)
        for name, fam in fams.items():
            if fam.get("soc_contains") and fam["soc_contains"] in soc:
                return str(name)
        for name, fam in fams.items():
            if fam.get("isa") and fam["isa"] == isa:
                return str(name)
        return str(self.tree["default_family"])

    def physics(self, board_id: str, soc: str = "", isa: str = "") -> BoardPhysics:
        """The parameters of ``board_id`` (its family's, then its own overrides)."""
        family = self.family_of(board_id, soc, isa)
        fam: Mapping[str, Any] = self.tree["families"][family]
        d: Mapping[str, Any] = self.tree["defaults"]
        own: Mapping[str, Any] = self.tree["boards"].get(board_id, _EMPTY)
        workload = {**d["workload"], **fam.get("workload", _EMPTY), **own.get("workload", _EMPTY)}
        nvme = d["nvme"]
        th = fam["throttle"]
        coolers = {}
        for cname, c in fam["coolers"].items():
            c = fam["coolers"][c] if isinstance(c, str) else c
            coolers[cname] = Cooler(c["r_sa"], c["c_sink"], c.get("r_sa_full"))
        return BoardPhysics(
            family=family,
            r_js=fam["die"]["r_js"],
            c_die=fam["die"]["c_die"],
            coolers=MappingProxyType(coolers),
            throttle_law=th["law"],
            min_clock_ratio=th["min_clock"],
            off_w=own.get("off_w", fam["off_w"]),
            fan_w=d["fan_w"],
            fan_rpm_max=fam.get("fan_rpm_max", d["fan_rpm_max"]),
            nvme_idle_w=own.get("nvme_idle_w", nvme["idle_w"]),
            nvme_active_w=nvme["active_w"],
            nvme_r=nvme["r"],
            nvme_coupling=nvme["coupling"],
            nvme_heat_capacity=nvme["heat_capacity"],
            workload=MappingProxyType(workload),
            workload_io=d["workload_io"],
            band_k=th.get("band_k"),
            soft_limit_c=th.get("soft_limit_c"),
            soft_limit_clock=th.get("soft_limit_clock"),
            fan_curve=fam.get("fan_curve", ()),
        )


def _parse(raw: Mapping[str, Any], path: str, sources: set[str]) -> Mapping[str, Any]:
    def p(node: Any, where: str) -> Param:
        return _param(node, where, path, sources)

    d = raw.get("defaults") or {}
    nvme = d.get("nvme") or {}
    defaults = {
        "fan_w": p(d.get("fan_w"), "defaults.fan_w"),
        "fan_rpm_max": p(d.get("fan_rpm_max"), "defaults.fan_rpm_max"),
        "nvme": {
            k: p(nvme.get(k), f"defaults.nvme.{k}")
            for k in ("idle_w", "active_w", "r", "coupling", "heat_capacity")
        },
        "workload": {
            k: p((d.get("workload") or {}).get(k), f"defaults.workload.{k}") for k in KINDS
        },
        "workload_io": {
            k: p((d.get("workload_io") or {}).get(k), f"defaults.workload_io.{k}") for k in KINDS
        },
    }
    families: dict[str, Any] = {}
    for name, fam in (raw.get("families") or {}).items():
        at = f"families.{name}"
        if not isinstance(fam, Mapping):
            raise ConfigError(path, at, "expected a mapping")
        die = fam.get("die") or {}
        coolers: dict[str, Any] = {}
        for cname, c in (fam.get("coolers") or {}).items():
            cat = f"{at}.coolers.{cname}"
            if cname not in COOLERS:
                raise ConfigError(path, cat, f"unknown cooler; one of {', '.join(COOLERS)}")
            if isinstance(c, str):  # shares another cooler's figures
                coolers[cname] = c
                continue
            if not isinstance(c, Mapping):
                raise ConfigError(
                    path, cat, "expected {r_sa, c_sink[, r_sa_full]} or a cooler name"
                )
            coolers[cname] = {k: p(c.get(k), f"{cat}.{k}") for k in ("r_sa", "c_sink")}
            if c.get("r_sa_full") is not None:
                coolers[cname]["r_sa_full"] = p(c["r_sa_full"], f"{cat}.r_sa_full")
        for cname, c in coolers.items():
            if isinstance(c, str) and not isinstance(coolers.get(c), dict):
                raise ConfigError(path, f"{at}.coolers.{cname}", f"no cooler {c!r} to share")
        missing = [c for c in COOLERS if c not in coolers]
        if missing:
            raise ConfigError(path, f"{at}.coolers", f"missing {', '.join(missing)}")
        for cname in ("fan", "active_cooler"):
            c = coolers[cname]
            if "r_sa_full" not in (coolers[c] if isinstance(c, str) else c):
                raise ConfigError(path, f"{at}.coolers.{cname}", "a fan cooler needs r_sa_full")
        th = fam.get("throttle") or {}
        law = th.get("law")
        if law not in _LAWS:
            raise ConfigError(path, f"{at}.throttle.law", f"one of {', '.join(_LAWS)}")
        throttle: dict[str, Any] = {
            "law": law,
            "min_clock": p(th.get("min_clock"), f"{at}.throttle.min_clock"),
        }
        for k in ("band_k", "soft_limit_c", "soft_limit_clock"):
            if k in th:
                throttle[k] = p(th[k], f"{at}.throttle.{k}")
        if law == "ipa" and "band_k" not in throttle:
            raise ConfigError(path, f"{at}.throttle", "the ipa law needs band_k")
        out: dict[str, Any] = {
            "boards": tuple(str(b) for b in fam.get("boards") or ()),
            "soc_contains": fam.get("soc_contains"),
            "isa": fam.get("isa"),
            "die": {
                "r_js": p(die.get("r_js"), f"{at}.die.r_js"),
                "c_die": p(die.get("c_die"), f"{at}.die.c_die"),
            },
            "coolers": coolers,
            "throttle": throttle,
            "off_w": p(fam.get("off_w"), f"{at}.off_w"),
            "workload": {
                k: p(v, f"{at}.workload.{k}") for k, v in (fam.get("workload") or {}).items()
            },
        }
        if "fan_rpm_max" in fam:
            out["fan_rpm_max"] = p(fam["fan_rpm_max"], f"{at}.fan_rpm_max")
        if fam.get("fan_curve_profile"):
            out["fan_curve"] = _fan_curve(str(fam["fan_curve_profile"]), path, at)
        families[str(name)] = out
    boards: dict[str, Any] = {}
    for bid, b in (raw.get("boards") or {}).items():
        at = f"boards.{bid}"
        entry: dict[str, Any] = {}
        for k, v in (b or {}).items():
            if k == "workload":
                entry[k] = {kk: p(vv, f"{at}.workload.{kk}") for kk, vv in v.items()}
            elif k in ("nvme_idle_w", "off_w"):
                entry[k] = p(v, f"{at}.{k}")
            else:
                raise ConfigError(path, f"{at}.{k}", "unknown board parameter")
        boards[str(bid)] = entry
    default = str(raw.get("default_family", "rk3588"))
    if default not in families:
        raise ConfigError(path, "default_family", f"no family {default!r}")
    return _freeze(
        {"defaults": defaults, "families": families, "boards": boards, "default_family": default}
    )


def _fan_curve(profile: str, path: str, where: str) -> tuple[tuple[float, float], ...]:
    from microrack.catalog import thermal_profile
    from microrack.errors import MicrorackError

    try:
        tp = thermal_profile(profile)
    except MicrorackError as exc:
        raise ConfigError(path, f"{where}.fan_curve_profile", str(exc)) from None
    pts = [(float(pt.temp_c), float(pt.duty)) for pt in tp.fan_curve]
    if pts:  # the firmware keeps the fan off below its first point
        pts.insert(0, (pts[0][0] - 0.5, 0.0))
    return tuple(pts)


def _freeze(node: Any) -> Any:
    if isinstance(node, dict):
        return MappingProxyType({k: _freeze(v) for k, v in node.items()})
    return node


def _thaw(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _thaw(v) for k, v in node.items()}
    return node


@functools.lru_cache(maxsize=1)
def twin_data() -> TwinData:
    """The packaged parameters with the packaged fit applied."""
    return TwinData.read()


def physics_for(
    board_id: str, thermal_profile: str = "", soc: str = "", isa: str = ""
) -> BoardPhysics:
    """The twin's parameters for one catalog board (by id, then SoC, then ISA)."""
    del thermal_profile  # families are matched by board id, SoC name and ISA
    return twin_data().physics(board_id, soc, isa)
