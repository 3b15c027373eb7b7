"""``microrack spec``: validate, describe and render a cluster.yaml."""

from __future__ import annotations

import argparse
import json
import sys

from microrack.errors import MicrorackError, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (
        ("validate", "check the file; list every error and warning (exit 1 on errors)"),
        ("check", "same as validate"),
        ("describe", "the nodes as a table and what survives losing one or two of them"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("spec", help="path of cluster.yaml")
        p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser(
        "render",
        help="write dnsmasq, hosts, Ansible, Prometheus, systemd, Kubernetes and Grafana files",
        description="write the configuration files",
    )
    p.add_argument("spec", help="path of cluster.yaml")
    p.add_argument("--out", required=True, help="directory to write into")
    p.add_argument(
        "--force", action="store_true", help="overwrite files edited by hand since the last render"
    )
    p.add_argument("--json", action="store_true", help="list written files as JSON")
    p = sub.add_parser("schema", help="print the JSON Schema of cluster.yaml")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    from microrack import spec as mspec

    if args.action == "schema":
        text = json.dumps(mspec.json_schema(), indent=2, sort_keys=True) + "\n"
        if args.out:
            from microrack.cli._paths import check_output

            check_output("--out", args.out, force=args.force, writable=False)
            try:
                with open(args.out, "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise UsageError(
                    "--out", f"cannot write {args.out} ({exc.strerror or exc})"
                ) from None
        else:
            sys.stdout.write(text)
        return 0
    if args.action in ("validate", "check"):
        return _validate(args)
    if args.action == "describe":
        from microrack.spec._describe import describe

        return describe(mspec.load_spec(args.spec), as_json=args.json)
    if args.action == "render":
        from microrack.spec.render import render_to

        spec = mspec.load_spec(args.spec)
        for p in mspec.check_file(args.spec)[1]:
            print(f"warning: {p.text(args.spec)}", file=sys.stderr)
        written = render_to(spec, args.out, force=args.force)
        if args.json:
            print(json.dumps({"out": args.out, "files": written}, indent=2))
        else:
            print(f"wrote {len(written)} files to {args.out}")
        return 0
    raise AssertionError(args.action)


def _validate(args: argparse.Namespace) -> int:
    from microrack.spec import check_file

    try:
        _, problems = check_file(args.spec)
    except MicrorackError as exc:  # unreadable, or not YAML: still one JSON document
        if not args.json:
            raise
        problem = {"severity": "error", "field": None, "line": None, "message": str(exc)}
        print(json.dumps({"file": args.spec, "ok": False, "problems": [problem]}, indent=2))
        return 1
    errors = [p for p in problems if p.severity == "error"]
    if args.json:
        found = [
            {"severity": p.severity, "field": p.field, "line": p.lineno, "message": p.message}
            for p in problems
        ]
        print(json.dumps({"file": args.spec, "ok": not errors, "problems": found}, indent=2))
    else:
        for p in problems:
            stream = sys.stderr if p.severity == "error" else sys.stdout
            print(f"{p.severity}: {p.text(args.spec)}", file=stream)
        print(f"{args.spec}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    return 1 if errors else 0
