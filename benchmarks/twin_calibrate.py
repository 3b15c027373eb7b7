"""Calibrate the hardware twin against published runs, and report the error per run.

Fits the estimated (``fit: true``) parameters of ``microrack/sim/data/twin.yaml``
to the ``split: fit`` runs of ``microrack/sim/data/runs.yaml`` (stressberry
temperature series, Geerling's Pi 5 settled temperatures, top500 HPL watts),
prints the error of every run before (twin.yaml's estimates) and after the fit,
with the held-out runs -- never used by the fit -- in their own table, and with
``--write`` writes the fitted values, each with the runs it came from, to
``twin_fitted.yaml`` (which the twin then uses).  Usage::

    python benchmarks/twin_calibrate.py [--write] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from microrack.sim import RUNS_FILE, RunError, calibrate, load_runs, write_fitted
from microrack.sim._params import FITTED_FILE, TwinData

UNITS = {
    "series": "max |dT| degC",
    "steady": "dT degC",
    "power": "rel. error",
    "onset": "time ratio",
}


def _fmt(e: RunError) -> str:
    if e.metric == "power":
        return f"{e.error:+7.1%} ({e.predicted:5.2f} vs {e.published:g} W)"
    if e.metric == "onset":
        return f"{e.error:7.2f}x ({e.predicted:g} vs {e.published:g} s)"
    if e.metric == "series":
        return f"{e.error:7.2f} (rms {e.rms_c:4.2f})"
    return f"{e.error:+7.2f} ({e.predicted:5.1f} vs {e.published:g})"


def _table(title: str, before: list[RunError], after: list[RunError]) -> None:
    print(f"\n{title}")
    print(f"  {'run':42s} {'metric':14s} {'before':>30s}   {'after':>30s}  ok")
    for b, a in zip(before, after, strict=True):
        ok = "yes" if a.within() else "NO"
        print(f"  {a.run:42s} {UNITS[a.metric]:14s} {_fmt(b):>30s}   {_fmt(a):>30s}  {ok}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--write", action="store_true", help=f"write the fitted values to {FITTED_FILE.name}"
    )
    ap.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    args = ap.parse_args()

    runs = load_runs(RUNS_FILE)
    base = TwinData.read(fitted=None)  # the estimates of twin.yaml, before any fit
    cal = calibrate(runs, base, progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        json.dump(
            {
                "values": dict(cal.values),
                "fitted_to": {k: list(v) for k, v in cal.fitted_to.items()},
                "before": [e.as_dict() for e in cal.before],
                "after": [e.as_dict() for e in cal.after],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print(f"calibration against {len(runs)} published runs ({RUNS_FILE.name})")
        for split, title in (
            ("fit", "fitted runs (used by the fit)"),
            ("held_out", "held-out runs (never used by the fit)"),
        ):
            b = [e for e in cal.before if e.split == split]
            a = [e for e in cal.after if e.split == split]
            _table(title, b, a)
            within = sum(e.within() for e in a)
            print(f"  within tolerance (5 degC, 10 % power, onset x1.5): {within} of {len(a)}")
        print("\nfitted parameters")
        for k in sorted(cal.values):
            print(
                f"  {k:48s} {cal.before_values[k]:9.4g} -> {cal.values[k]:9.4g}"
                f"   ({', '.join(cal.fitted_to[k])})"
            )
    if args.write:
        write_fitted(cal, FITTED_FILE, runs_file=RUNS_FILE)
        print(f"\nwrote {FITTED_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
