"""Reading the YAML files users write, with one error style for all of them.

Every part reads a user file the same way (cluster.yaml, fan.yaml, rules,
requirements, node scripts, scenarios, bench profiles, catalogs): a file that
cannot be read or is not YAML is one :class:`ConfigError` naming the file and,
for a syntax error, the line and column.  What the document must contain is
each caller's business.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from microrack.errors import ConfigError

__all__ = ["parse_yaml", "read_text", "read_yaml"]


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of ``path``; ConfigError naming the file if it cannot be read."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(name, None, f"cannot read: not UTF-8 text ({exc.reason})") from None


def parse_yaml(text: str, path: str | os.PathLike[str], loader: Any = yaml.SafeLoader) -> Any:
    """Parse ``text`` (read from ``path``); ConfigError with line and column if not YAML."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(os.fspath(path), None, f"not valid YAML: {where}{problem}") from None


def read_yaml(path: str | os.PathLike[str], loader: Any = yaml.SafeLoader) -> Any:
    """Read and parse one YAML file (``None`` for an empty one)."""
    return parse_yaml(read_text(path), path, loader)
