"""Rejecting a hostile cluster.yaml: microrack's reader against a plain PyYAML load.

Side by side in one run, on the same files:

* ``microrack``: ``microrack.spec.check_file`` (the shared reader's checks, then
  the model and every rule), the shipped code;
* ``pyyaml``: ``yaml.load`` with libyaml's ``CSafeLoader`` and nothing else,
  the least any YAML-reading tool does before it can even look at the keys.

Files: a valid example cluster.yaml, and the same file with N junk keys
appended (200 000 by default, about 2.5 MB), which microrack must reject.
Printed: seconds for each and the ratio microrack / pyyaml.  Usage::

    python benchmarks/user_file_reader.py [--keys 200000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from microrack.errors import ConfigError
from microrack.spec import check_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cluster-pi2-5.yaml"


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _ours(path: Path) -> str:
    try:
        _spec, problems = check_file(path)
    except ConfigError as exc:
        return f"rejected: {str(exc)[len(str(path)) + 2 :][:70]}"
    errors = [p for p in problems if p.severity == "error"]
    return f"{len(errors)} error(s)"


def _pyyaml(path: Path) -> str:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return f"loaded {len(data)} top-level keys"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        junk = Path(tmp) / "junk-keys.yaml"
        junk.write_text(EXAMPLE.read_text() + "".join(f"k{i}: {i}\n" for i in range(args.keys)))
        for name, path in (("example", EXAMPLE), (f"{args.keys} junk keys", junk)):
            ours = _best(lambda p=path: _ours(p), args.repeat)
            peer = _best(lambda p=path: _pyyaml(p), args.repeat)
            rows.append(
                {
                    "file": name,
                    "bytes": path.stat().st_size,
                    "microrack_s": ours,
                    "pyyaml_s": peer,
                    "ratio": ours / peer,
                    "microrack": _ours(path),
                    "pyyaml": _pyyaml(path),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'file':>20} {'bytes':>9} {'microrack s':>12} {'pyyaml s':>9} {'ratio':>6}  outcome")
    for r in rows:
        print(
            f"{r['file']:>20} {r['bytes']:>9} {r['microrack_s']:>12.3f} {r['pyyaml_s']:>9.3f} "
            f"{r['ratio']:>6.2f}  {r['microrack']} / pyyaml: {r['pyyaml']}"
        )


if __name__ == "__main__":
    main()
