"""``microrack fan calibrate --config fan.yaml``: measure each fan, write the results into it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from microrack.sensors import HostFS

if TYPE_CHECKING:
    from microrack.thermal import FanService


def calibrate(args: argparse.Namespace, service: FanService, fs: HostFS) -> int:
    from microrack.thermal._calibrate import calibrate_fans, write_calibration

    # Refuse an already calibrated file before minutes of sweeping, not after.
    if not args.force:
        from microrack._yaml import read_yaml

        data = read_yaml(args.config) or {}
        done = [
            f.get("name")
            for f in data.get("fans", [])
            if isinstance(f, dict) and "calibration" in f
        ]
        if done:
            from microrack.errors import UsageError

            raise UsageError(
                "--force",
                f"{args.config}: fan {done[0]} is already calibrated; "
                "give --force to measure again and replace it",
            )
    advance = getattr(fs, "advance", None)  # the twin: its time passes on request
    wait = advance if callable(advance) else time.sleep

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results, skipped = calibrate_fans(
        service, wait=wait, steps=args.steps, settle_s=args.settle, progress=progress
    )
    for line in skipped:
        print(line)
    if results:
        write_calibration(args.config, results, force=args.force)
        for name, cal in results.items():
            print(
                f"fan {name}: start {cal.start_duty * 100:.0f} %, minimum "
                f"{cal.min_duty * 100:.0f} %, max {cal.max_rpm:.0f} rpm -> {args.config}"
            )
    return 0
