"""Reading ``cluster.yaml``: YAML, then the model, then the cross-field rules.

Every problem becomes a :class:`Problem` naming the field path
(``nodes[2].nics[0].mac``) so ``microrack spec validate`` can list them all; the
first one is the message of the :class:`SpecInvalid` that ``load_spec`` raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from microrack._yaml import parse_yaml, read_text
from microrack.errors import ConfigError, field_path
from microrack.spec._model import ClusterSpec

__all__ = [
    "Problem",
    "SpecInvalid",
    "check_file",
    "load_spec",
    "parse_spec",
    "yaml_line",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a spec: an error (exit 1) or a warning (exit 0)."""

    severity: Literal["error", "warning"]
    field: str
    message: str
    lineno: int | None = None  # where ``field`` is in the YAML, when it is there

    def detail(self) -> str:
        """The message, with the YAML line when known."""
        return self.message + (f" (line {self.lineno})" if self.lineno else "")

    def text(self, path: str) -> str:
        return (
            f"{path}: {self.field}: {self.detail()}" if self.field else f"{path}: {self.detail()}"
        )


class SpecInvalid(ConfigError):
    """The spec has errors; ``problems`` holds all of them, the message the first."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        suffix = (
            f" (and {more} more problem{'s' if more > 1 else ''}; run 'microrack spec validate')"
        )
        super().__init__(path, first.field or None, first.detail() + (suffix if more else ""))


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
        problems.append(Problem("error", field_path(err["loc"]), _describe(err)))
    return problems


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def yaml_line(
    root: yaml.Node | None, field: str, index_cache: dict[int, dict[Any, Any]] | None = None
) -> int | None:
    """1-based line of ``field`` (``nodes[2].nics[0].mac``) in a composed YAML tree, or of
    its deepest ancestor that is present.  ``index_cache`` (shared across calls) makes
    locating many fields linear in their number."""
    cache: dict[int, dict[Any, Any]] = {} if index_cache is None else index_cache
    node, line = root, None
    for m in _PART.finditer(field):
        key, index = m.group(1), m.group(2)
        if isinstance(node, yaml.MappingNode) and key is not None:
            keys = cache.get(id(node))
            if keys is None:
                keys = cache[id(node)] = {}
                for k, v in node.value:
                    keys.setdefault(k.value, (k, v))
            if key not in keys:
                return line
            k, node = keys[key]
            line = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and index is not None:
            if int(index) >= len(node.value):
                return line
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _locate(root: yaml.Node | None, problems: Sequence[Problem]) -> list[Problem]:
    cache: dict[int, dict[Any, Any]] = {}
    return [replace(p, lineno=yaml_line(root, p.field, cache)) for p in problems]


_INT = "tag:yaml.org,2002:int"


class _SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader without YAML 1.1's base-60 integers.

    YAML 1.1 reads an unquoted MAC made of digits only (``52:54:00:12:34:56``)
    as the integer 675...; YAML 1.2 dropped that form, and so does cluster.yaml.
    """


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _INT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def _read(p: Path) -> tuple[Any, yaml.Node | None]:
    text = read_text(p)
    data = parse_yaml(text, p, _SpecLoader)  # a SafeLoader subclass
    root = yaml.compose(text, Loader=_SpecLoader)  # the same text parsed: for line numbers
    if not isinstance(data, dict):
        raise ConfigError(str(p), None, "expected a mapping with cluster, networks, nodes")
    return data, root


def parse_spec(path: str | Path) -> ClusterSpec:
    """The model of ``path``, checked field by field (not yet across fields)."""
    return _parse(Path(path))[0]


def _parse(p: Path) -> tuple[ClusterSpec, yaml.Node | None]:
    data, root = _read(p)
    try:
        return ClusterSpec.model_validate(data), root
    except ValidationError as exc:
        raise SpecInvalid(str(p), _locate(root, _pydantic_problems(exc))) from None


def check_file(path: str | Path) -> tuple[ClusterSpec | None, list[Problem]]:
    """The spec (None when it does not parse) and every problem, each with its YAML line.

    Unreadable or malformed YAML still raises :class:`ConfigError`.
    """
    from microrack.spec._rules import check_spec

    try:
        spec, root = _parse(Path(path))
    except SpecInvalid as exc:
        return None, exc.problems
    return spec, _locate(root, check_spec(spec))


def load_spec(path: str | Path) -> ClusterSpec:
    """The validated spec of ``path``; :class:`SpecInvalid` (a ConfigError) on any error.

    Warnings do not stop loading; ``check_spec`` lists them.
    """
    spec, problems = check_file(path)
    errors = [p for p in problems if p.severity == "error"]
    if errors or spec is None:
        raise SpecInvalid(str(path), errors)
    return spec
