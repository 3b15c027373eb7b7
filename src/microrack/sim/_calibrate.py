"""The twin against published runs: errors per run, and a fit of the estimated parameters.

``data/runs.yaml`` holds published measurements (temperature time series,
settled temperatures, HPL wall watts, throttle onsets), each with its source
and a ``split``: ``fit`` runs are what :func:`calibrate` fits the ``fit: true``
parameters of ``data/twin.yaml`` to; ``held_out`` runs never enter the fit and
their error is the one to believe.  :func:`evaluate` simulates every run on a
:class:`~microrack.sim._params.TwinData` and returns one :class:`RunError` each.

The fit: per-board HPL intensity in closed form from the board's own watts
(``(W - carrier - idle) / (load - idle)``), the family's as the mean of its
boards', the default as the mean of all; thermal parameters by bounded least
squares (scipy) in log space over every fit sample, with a weak pull toward
the estimate so that parameters the data does not pin stay near it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from microrack._yaml import read_yaml
from microrack.errors import ConfigError
from microrack.sim._model import BoardModel, board_model
from microrack.sim._params import COOLERS, DATA_DIR, FITTED_FILE, KINDS, TWIN_FILE, TwinData
from microrack.sim._physics import Twin

__all__ = [
    "RUNS_FILE",
    "Calibration",
    "Run",
    "RunError",
    "calibrate",
    "evaluate",
    "load_runs",
    "write_fitted",
]

RUNS_FILE = DATA_DIR / "runs.yaml"
_SPLITS = ("fit", "held_out")
_STRESSBERRY = ((0.0, 0.0), (150.0, 1.0), (450.0, 0.0))  # (from s, util): idle, stress, idle
_PRIOR_WEIGHT = 0.3  # residual (degC-equivalent) of a parameter e times its estimate
_DT = 1.0


@dataclass(frozen=True, slots=True)
class Run:
    """One published measurement."""

    id: str
    source: str
    record: str
    board: str
    split: str
    cooler: str = "fan"
    kind: str = "integer"
    fan: str = "duty"  # "duty" (fan_duty held) or "firmware" (the board's own fan curve)
    fan_duty: float = 1.0
    ram_gb: float | None = None
    ambient_c: float | None = None  # None: from the first sample and the idle steady state
    carrier_w: float | None = None
    nodes: int = 1  # identical nodes on one carrier, measured together (power runs)
    protocol: str | None = None
    temps_c: tuple[tuple[float, float], ...] = ()
    fit_until_s: float | None = None
    steady_c: float | None = None
    watts: float | None = None
    onset_s: float | None = None
    of: str | None = None

    @property
    def metric(self) -> str:
        if self.temps_c:
            return "series"
        if self.steady_c is not None:
            return "steady"
        if self.watts is not None:
            return "power"
        return "onset"


@dataclass(frozen=True, slots=True)
class RunError:
    """How far the twin is from one run: degC (series/steady), relative (power), ratio (onset)."""

    run: str
    split: str
    metric: str
    error: float  # series: max |dT| degC; steady: dT; power: relative; onset: ratio
    predicted: float
    published: float
    rms_c: float | None = None  # series only
    detail: str = ""

    def within(
        self, *, temp_c: float = 5.0, power_rel: float = 0.10, onset_factor: float = 1.5
    ) -> bool:
        if self.metric in ("series", "steady"):
            return abs(self.error) <= temp_c
        if self.metric == "power":
            return abs(self.error) <= power_rel
        return 1.0 / onset_factor <= self.error <= onset_factor

    def as_dict(self) -> dict[str, Any]:
        out = {
            "run": self.run,
            "split": self.split,
            "metric": self.metric,
            "error": round(self.error, 4),
            "predicted": round(self.predicted, 3),
            "published": self.published,
        }
        if self.rms_c is not None:
            out["rms_c"] = round(self.rms_c, 3)
        return out


# -- reading ----------------------------------------------------------------------------


def _num(node: Any, where: str, path: str, sources: set[str]) -> float:
    """A plain number, or a quantity {value, source | estimate}."""
    if isinstance(node, Mapping):
        if "value" not in node:
            raise ConfigError(path, where, "expected {value: V, source: ID | estimate: true}")
        src = node.get("source")
        if src is not None and str(src) not in sources:
            raise ConfigError(path, f"{where}.source", f"unknown source {src!r}")
        if src is None and not node.get("estimate"):
            raise ConfigError(path, where, "needs a source or estimate: true")
        node = node["value"]
    if isinstance(node, bool) or not isinstance(node, int | float) or not math.isfinite(node):
        raise ConfigError(path, where, f"expected a number, got {node!r}")
    return float(node)


def load_runs(path: str | Path = RUNS_FILE, twin: str | Path = TWIN_FILE) -> list[Run]:
    """The published runs of ``path``; a mistake raises ``ConfigError`` naming the field."""
    from microrack.catalog import UnknownBoard, board_profile, load_catalog

    name = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("runs"), list):
        raise ConfigError(name, None, "expected a mapping with a `runs:` list")
    twin_raw = read_yaml(twin) or {}
    sources = set(load_catalog().sources) | set((twin_raw.get("sources") or {}).keys())
    runs: list[Run] = []
    ids: set[str] = set()
    for i, r in enumerate(raw["runs"]):
        at = f"runs[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(name, at, "expected a mapping")
        rid = str(r.get("id") or "")
        if not rid or rid in ids:
            raise ConfigError(name, f"{at}.id", "missing or repeated run id")
        ids.add(rid)
        src = r.get("source")
        if src not in sources:
            raise ConfigError(name, f"{at}.source", f"unknown source {src!r}")
        try:
            board = board_profile(str(r.get("board"))).id
        except UnknownBoard as exc:
            raise ConfigError(name, f"{at}.board", str(exc)) from None
        split = r.get("split")
        if split not in _SPLITS:
            raise ConfigError(name, f"{at}.split", f"one of {', '.join(_SPLITS)}")
        cooler = r.get("cooler", "fan")
        if cooler not in COOLERS:
            raise ConfigError(name, f"{at}.cooler", f"one of {', '.join(COOLERS)}")
        kind = r.get("kind", "integer")
        if kind not in KINDS:
            raise ConfigError(name, f"{at}.kind", f"one of {', '.join(KINDS)}")
        fan = r.get("fan", "duty")
        if fan not in ("duty", "firmware"):
            raise ConfigError(name, f"{at}.fan", "duty or firmware")
        temps: list[tuple[float, float]] = []
        for j, pt in enumerate(r.get("temps_c") or ()):
            if not isinstance(pt, list) or len(pt) != 2:
                raise ConfigError(name, f"{at}.temps_c[{j}]", "expected [seconds, degC]")
            temps.append(
                (
                    _num(pt[0], f"{at}.temps_c[{j}][0]", name, sources),
                    _num(pt[1], f"{at}.temps_c[{j}][1]", name, sources),
                )
            )
        if temps and r.get("protocol") != "stressberry":
            raise ConfigError(
                name, f"{at}.protocol", "a series needs a known protocol: stressberry"
            )

        def opt(key: str, *, _r: dict[str, Any] = r, _at: str = at) -> float | None:
            return _num(_r[key], f"{_at}.{key}", name, sources) if _r.get(key) is not None else None

        run = Run(
            id=rid,
            source=str(src),
            record=str(r.get("record", "")),
            board=board,
            split=str(split),
            cooler=str(cooler),
            kind=str(kind),
            fan=str(fan),
            fan_duty=_num(r["fan_duty"], f"{at}.fan_duty", name, sources)
            if r.get("fan_duty") is not None
            else 1.0,
            ram_gb=opt("ram_gb"),
            ambient_c=opt("ambient_c"),
            carrier_w=opt("carrier_w"),
            nodes=int(opt("nodes") or 1),
            protocol=r.get("protocol"),
            temps_c=tuple(temps),
            fit_until_s=opt("fit_until_s"),
            steady_c=opt("steady_c"),
            watts=opt("watts"),
            onset_s=opt("onset_s"),
            of=r.get("of"),
        )
        if (
            sum(
                x is not None and x != ()
                for x in (run.temps_c or None, run.steady_c, run.watts, run.onset_s)
            )
            != 1
        ):
            raise ConfigError(
                name, at, "a run gives exactly one of temps_c, steady_c, watts, onset_s"
            )
        if run.onset_s is not None and run.of is None:
            raise ConfigError(name, f"{at}.of", "an onset names the series run it belongs to")
        runs.append(run)
    for i, run in enumerate(runs):
        if run.of is not None and not any(o.id == run.of and o.temps_c for o in runs):
            raise ConfigError(name, f"runs[{i}].of", f"no series run {run.of!r}")
    return runs


# -- simulating -------------------------------------------------------------------------


def _model(run: Run, data: TwinData) -> BoardModel:
    m = board_model(run.board, cooler=run.cooler, ram_gb=run.ram_gb, data=data)
    if run.carrier_w is not None:
        m = m.with_carrier(run.carrier_w)
    return m


def _util_at(t: float) -> float:
    u = 0.0
    for start, value in _STRESSBERRY:
        if t >= start:
            u = value
    return u


def _series(runs: Sequence[Run], data: TwinData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Die temperature every ``_DT`` s of each series run: {id: (times, temps)}."""
    if not runs:
        return {}
    models = [_model(r, data) for r in runs]
    tw = Twin(models, nvme=[False] * len(runs), kind="integer")
    tw.auto_fan[:] = False
    tw.duty[:] = [r.fan_duty for r in runs]
    # ambient such that the idle steady state is the first published sample
    amb = []
    for r, m in zip(runs, models, strict=True):
        cool = m.cooling
        g = 1.0 / cool.r_sa.value
        if m.has_fan and cool.r_sa_full is not None:
            g += r.fan_duty * (1.0 / cool.r_sa_full.value - g)
        r_total = m.physics.r_js.value + 1.0 / g
        amb.append(r.temps_c[0][1] - m.idle_w * r_total if r.ambient_c is None else r.ambient_c)
    tw.ambient[:] = amb
    tw.temp[:] = tw.ambient
    tw.sink_temp[:] = tw.ambient
    tw.util[:] = 0.0
    tw.settle()
    end = max(r.temps_c[-1][0] for r in runs)
    steps = math.ceil(end / _DT) + 1
    times = np.arange(steps + 1) * _DT
    out = np.empty((steps + 1, len(runs)))
    out[0] = tw.temp
    for s in range(steps):
        tw.util[:] = _util_at(s * _DT + _DT / 2)
        tw.step(_DT, track=False)
        out[s + 1] = tw.temp
    return {r.id: (times, out[:, i]) for i, r in enumerate(runs)}


def _steady(run: Run, data: TwinData) -> float:
    m = _model(run, data)
    tw = Twin(
        [m],
        ambient_c=run.ambient_c if run.ambient_c is not None else 25.0,
        nvme=[False],
        kind=run.kind,
    )
    tw.util[:] = 1.0
    if run.fan == "firmware":
        tw.auto_fan[:] = True
    else:
        tw.auto_fan[:] = False
        tw.duty[:] = run.fan_duty
    tw.settle()
    for _ in range(600):
        tw.step(2.0, track=False)
    return float(tw.temp[0])


def _power(run: Run, data: TwinData) -> float:
    """Board(s) + carrier watts during the run (cooled boards at full utilisation)."""
    m = _model(run, data)
    tw = Twin([m], nvme=[False], kind=run.kind)
    tw.auto_fan[:] = False
    tw.duty[:] = 1.0
    tw.util[:] = 1.0
    tw.settle()
    return run.nodes * float(tw.board_power[0]) + m.carrier_w


def _onset(run: Run, series: tuple[np.ndarray, np.ndarray], model: BoardModel) -> float:
    """First time the simulated die reaches the throttle limit (inf if it never does)."""
    p = model.physics
    limit = p.soft_limit_c.value if p.soft_limit_c is not None else model.throttle_band[0]
    times, temps = series
    hit = np.nonzero(temps >= limit)[0]
    return float(times[hit[0]]) if hit.size else math.inf


def _load_start(run: Run) -> float:
    return _STRESSBERRY[1][0] if run.protocol == "stressberry" else 0.0


def evaluate(runs: Sequence[Run], data: TwinData) -> list[RunError]:
    """One :class:`RunError` per run, simulated on ``data``."""
    by_id = {r.id: r for r in runs}
    series_runs = [r for r in runs if r.temps_c]
    for r in runs:  # an onset needs its series even when that one is not being evaluated
        if r.of and r.of not in {s.id for s in series_runs}:
            series_runs.append(by_id[r.of])
    sims = _series(series_runs, data)
    out: list[RunError] = []
    for r in runs:
        if r.temps_c:
            times, temps = sims[r.id]
            t = np.array([p[0] for p in r.temps_c])
            want = np.array([p[1] for p in r.temps_c])
            got = np.interp(t, times, temps)
            diff = got - want
            worst = int(np.argmax(np.abs(diff)))
            out.append(
                RunError(
                    r.id,
                    r.split,
                    "series",
                    float(abs(diff[worst])),
                    float(got[worst]),
                    float(want[worst]),
                    rms_c=float(np.sqrt(np.mean(diff**2))),
                    detail=f"worst at {t[worst]:g} s",
                )
            )
        elif r.steady_c is not None:
            got_c = _steady(r, data)
            out.append(RunError(r.id, r.split, "steady", got_c - r.steady_c, got_c, r.steady_c))
        elif r.watts is not None:
            w = _power(r, data)
            out.append(RunError(r.id, r.split, "power", (w - r.watts) / r.watts, w, r.watts))
        else:
            assert r.of is not None and r.onset_s is not None
            parent = by_id[r.of]
            got_s = _onset(r, sims[parent.id], _model(parent, data))
            start = _load_start(parent)
            ratio = (got_s - start) / (r.onset_s - start) if math.isfinite(got_s) else math.inf
            out.append(
                RunError(
                    r.id,
                    r.split,
                    "onset",
                    ratio,
                    got_s,
                    r.onset_s,
                    detail="ratio of times from the start of the load",
                )
            )
    return out


# -- fitting ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Errors before and after the fit, and the fitted values with the runs behind each."""

    before: list[RunError]
    after: list[RunError]
    values: Mapping[str, float]
    before_values: Mapping[str, float]
    fitted_to: Mapping[str, tuple[str, ...]]
    data: TwinData
    cost: tuple[float, float] = (0.0, 0.0)
    notes: list[str] = field(default_factory=list)


def _family(board: str, data: TwinData) -> str:
    from microrack.catalog import board_profile

    p = board_profile(board)
    return data.family_of(p.id, p.soc, p.isa)


def _cooler_key(family: str, cooler: str, data: TwinData) -> str:
    c = data.tree["families"][family]["coolers"][cooler]
    return c if isinstance(c, str) else cooler


def _thermal_params(runs: Iterable[Run], data: TwinData) -> dict[str, tuple[str, ...]]:
    """Fit parameters that the thermal fit runs depend on -> the runs."""
    used: dict[str, list[str]] = {}
    for r in runs:
        if r.metric not in ("series", "steady"):
            continue
        fam = _family(r.board, data)
        ck = _cooler_key(fam, r.cooler, data)
        prefixes = [f"families.{fam}.die.", f"families.{fam}.coolers.{ck}."]
        for key, p in data.params().items():
            if not p.fit or not any(key.startswith(x) for x in prefixes):
                continue
            if key.endswith("r_sa_full") and r.fan == "duty" and r.fan_duty == 0.0:
                continue  # a fan-off run says nothing about the fan at full duty
            used.setdefault(key, []).append(r.id)
    return {k: tuple(dict.fromkeys(v)) for k, v in used.items()}


def _hpl_values(
    runs: Sequence[Run], data: TwinData
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    values: dict[str, float] = {}
    fitted: dict[str, tuple[str, ...]] = {}
    by_family: dict[str, list[tuple[float, str]]] = {}
    every: list[tuple[float, str]] = []
    for r in runs:
        if r.metric != "power" or r.kind != "hpl" or r.split != "fit":
            continue
        m = _model(r, data)
        dyn = m.load_w - m.idle_w
        if dyn <= 0:
            continue
        k = ((r.watts - m.carrier_w) / r.nodes - m.idle_w) / dyn  # type: ignore[operator]
        key = f"boards.{m.id}.workload.hpl"
        if key in data.params() and data.get(key).fit:
            values[key] = k
            fitted[key] = (r.id,)
        fam = _family(r.board, data)
        by_family.setdefault(fam, []).append((k, r.id))
        every.append((k, r.id))
    for fam, ks in by_family.items():
        key = f"families.{fam}.workload.hpl"
        if key in data.params() and data.get(key).fit:
            values[key] = float(np.mean([k for k, _ in ks]))
            fitted[key] = tuple(rid for _, rid in ks)
    if every and data.get("defaults.workload.hpl").fit:
        values["defaults.workload.hpl"] = float(np.mean([k for k, _ in every]))
        fitted["defaults.workload.hpl"] = tuple(rid for _, rid in every)
    return values, fitted


def _residuals(runs: Sequence[Run], data: TwinData) -> np.ndarray:
    """Degrees C off at every fit sample (series up to fit_until_s) and every steady run."""
    series = [r for r in runs if r.temps_c]
    sims = _series(series, data)
    res: list[float] = []
    for r in series:
        times, temps = sims[r.id]
        pts = [p for p in r.temps_c if r.fit_until_s is None or p[0] <= r.fit_until_s]
        t = np.array([p[0] for p in pts])
        res.extend((np.interp(t, times, temps) - np.array([p[1] for p in pts])).tolist())
    for r in runs:
        if r.steady_c is not None:
            res.append(_steady(r, data) - r.steady_c)
    return np.asarray(res)


def calibrate(
    runs: Sequence[Run], data: TwinData, progress: Callable[[str], None] | None = None
) -> Calibration:
    """Fit the ``fit: true`` parameters of ``data`` to the ``fit`` runs."""
    from scipy.optimize import least_squares

    say = progress or (lambda _msg: None)
    fit_runs = [r for r in runs if r.split == "fit"]
    before = evaluate(runs, data)
    original = data
    values, fitted_to = _hpl_values(fit_runs, data)
    data = data.with_values(values)
    thermal = _thermal_params(fit_runs, data)
    keys = sorted(thermal)
    thermal_runs = [r for r in fit_runs if r.metric in ("series", "steady")]
    x0 = np.log([data.get(k).value for k in keys])
    cost0 = cost1 = 0.0
    if keys:
        say(f"fitting {len(keys)} thermal parameters to {len(thermal_runs)} runs")

        def fun(x: np.ndarray) -> np.ndarray:
            d = data.with_values(dict(zip(keys, np.exp(x).tolist(), strict=True)))
            prior = _PRIOR_WEIGHT * (x - x0)
            return np.concatenate([_residuals(thermal_runs, d), prior])

        cost0 = float(np.sum(fun(x0) ** 2))
        sol = least_squares(
            fun,
            x0,
            bounds=(x0 - math.log(20.0), x0 + math.log(20.0)),
            diff_step=1e-3,
            x_scale=1.0,
            max_nfev=200,
        )
        cost1 = float(np.sum(sol.fun**2))
        for k, v in zip(keys, np.exp(sol.x).tolist(), strict=True):
            values[k] = v
            fitted_to[k] = thermal[k]
        say(f"least squares: cost {cost0:.1f} -> {cost1:.1f} in {sol.nfev} evaluations")
    before_values = {k: original.get(k).value for k in values}
    base = data.with_values({k: v for k, v in values.items()})
    fitted = base._with_params({k: _fitted(base, k, fitted_to[k]) for k in values})
    after = evaluate(runs, fitted)
    return Calibration(before, after, values, before_values, fitted_to, fitted, (cost0, cost1))


def _fitted(data: TwinData, key: str, runs: tuple[str, ...]) -> Any:
    from dataclasses import replace

    return replace(data.get(key), fitted_to=runs)


def write_fitted(
    cal: Calibration, path: str | Path = FITTED_FILE, *, runs_file: str | Path = RUNS_FILE
) -> None:
    """Write the fitted values, each with the runs it was fitted to, as YAML."""
    params = {}
    for k in sorted(cal.values):
        params[k] = {"value": round(float(cal.values[k]), 5), "fitted_to": list(cal.fitted_to[k])}
    doc = {
        "fitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runs_file": Path(runs_file).name,
        "held_out": sorted({e.run for e in cal.after if e.split == "held_out"}),
        "params": params,
    }
    text = (
        "# The twin's fitted parameters, written by `python benchmarks/twin_calibrate.py\n"
        "# --write`: each value with the published runs (runs.yaml) it was fitted to.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=100)
    )
    Path(path).write_text(text, encoding="utf-8")
