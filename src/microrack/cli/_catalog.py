"""``microrack catalog [BOARD] [--json] [--catalog FILE]``."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("board", nargs="?", help="show one board (id or alias) with its sources")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--variants",
        action="store_true",
        help="one row per board and RAM variant, with price sources",
    )
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        help="extra catalog file: adds boards, replaces boards with the same id",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from microrack.catalog import load_catalog
    from microrack.catalog.view import (
        board_detail,
        board_table,
        board_to_json,
        catalog_to_json,
        variant_table,
    )

    catalog = load_catalog(args.catalog)
    if args.board:
        profile = catalog.board(args.board)
        if args.json:
            json.dump(board_to_json(profile), sys.stdout, indent=2)
            print()
        else:
            Console(width=max(Console().width, 120)).print(board_detail(profile, catalog))
        return 0
    if args.json:
        json.dump(catalog_to_json(catalog), sys.stdout, indent=2)
        print()
    else:
        table = variant_table(catalog) if args.variants else board_table(catalog)
        Console(width=max(Console().width, 180)).print(table)
    return 0
