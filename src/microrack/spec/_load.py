"""Reading ``cluster.yaml``: YAML, then the model, then the cross-field rules.

Every problem becomes a :class:`Problem` naming the field path
(``nodes[2].nics[0].mac``) so ``microrack spec validate`` can list them all; the
first one is the message of the :class:`SpecInvalid` that ``load_spec`` raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from microrack.errors import ConfigError
from microrack.spec._model import ClusterSpec

__all__ = ["Problem", "SpecInvalid", "field_path", "load_spec", "parse_spec"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a spec: an error (exit 1) or a warning (exit 0)."""

    severity: Literal["error", "warning"]
    field: str
    message: str

    def line(self, path: str) -> str:
        return f"{path}: {self.field}: {self.message}" if self.field else f"{path}: {self.message}"


class SpecInvalid(ConfigError):
    """The spec has errors; ``problems`` holds all of them, the message the first."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        suffix = (
            f" (and {more} more problem{'s' if more > 1 else ''}; run 'microrack spec validate')"
        )
        super().__init__(path, first.field or None, first.message + (suffix if more else ""))


def field_path(loc: Sequence[str | int]) -> str:
    """``('nodes', 2, 'mac')`` -> ``nodes[2].mac``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(error: Any) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if error["type"] == "extra_forbidden":
        msg = "unknown field (a typo?)"
    elif error["type"] == "missing":
        msg = "required field is missing"
    return msg


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        # pydantic appends the tag of a failing function validator to loc; drop non-field parts.
        loc = [p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-")]
        problems.append(Problem("error", field_path(loc), _describe(err)))
    return problems


def parse_spec(path: str | Path) -> ClusterSpec:
    """The model of ``path``, checked field by field (not yet across fields)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(p), None, f"not valid YAML: {where}{problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(p), None, "expected a mapping with cluster, networks, nodes")
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecInvalid(str(p), _pydantic_problems(exc)) from None


def load_spec(path: str | Path) -> ClusterSpec:
    """The validated spec of ``path``; :class:`SpecInvalid` (a ConfigError) on any error.

    Warnings do not stop loading; ``check_spec`` lists them.
    """
    from microrack.spec._rules import check_spec

    spec = parse_spec(path)
    errors = [p for p in check_spec(spec) if p.severity == "error"]
    if errors:
        raise SpecInvalid(str(path), errors)
    return spec
