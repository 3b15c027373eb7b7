"""Reading the files users write, safely, with one error style for all of them.

Every part reads a user file the same way (cluster.yaml, fan.yaml, rules,
requirements, node scripts, scenarios, bench profiles, catalogs, a fancontrol
file, a bench result): whatever is wrong with it is one :class:`ConfigError`
naming the file and, where it has one, the line and column.  Before any of
the content is used the reader makes sure that

- it is a regular file (a FIFO would block, ``/dev/zero`` never ends, a
  directory is a mistake) and at most ``max_bytes`` long (8 MiB by default);
- it is UTF-8 (the error names the byte offset of the first bad byte);
- YAML is nested at most ``max_depth`` levels (deep ``[[[...`` would exhaust
  the parser's recursion), has no duplicate mapping key (YAML says the last
  one wins, silently; here both line numbers are named), no ``.inf``/``.nan``
  (no microrack file means an infinite or undefined number), at most
  100 000 values (so that even a file of junk keys is rejected in about a
  second, before it is built and validated), and no unbounded aliases.

These checks are one pass over the parser's event stream, linear in the size
of the file, whatever loader the caller uses.  What the document must contain
is each caller's business.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Any

import yaml

from microrack.errors import ConfigError

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "file_kind",
    "parse_yaml",
    "read_json",
    "read_text",
    "read_yaml",
]

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000  # scalars and collections: a hand-written file has a few thousand
MAX_ALIASES = 1000  # more than any hand-written file; far fewer than a "billion laughs"

_NON_FINITE = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")
_MERGE = "<<"
_EVENTS = getattr(yaml, "CSafeLoader", None)


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, in words (``a FIFO (named pipe)``, ...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _limit(max_bytes: int) -> str:
    return f"{max_bytes // (1024 * 1024)} MiB" if max_bytes >= 1024 * 1024 else f"{max_bytes} bytes"


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``; ConfigError otherwise."""
    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(name, None, f"cannot read: {file_kind(st.st_mode)}, not a file")
        if st.st_size > max_bytes:
            raise ConfigError(
                name, None, f"cannot read: {st.st_size} bytes, over the {_limit(max_bytes)} limit"
            )
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= max_bytes:  # the file may grow while it is read
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise ConfigError(name, None, f"cannot read: over the {_limit(max_bytes)} limit")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); ConfigError naming the file."""
    name = os.fspath(path)
    data = read_bytes(name, max_bytes=max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            name,
            None,
            f"cannot read: not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} (line {line})",
        ) from None
    return text.removeprefix("\ufeff")


def _problem(path: str, mark: Any, message: str) -> ConfigError:
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return ConfigError(path, None, f"not valid YAML: {where}{message}")


def _check_events(text: str, path: str, loader: Any, max_depth: int) -> None:
    """Depth, duplicate keys, non-finite numbers and aliases, from the event stream."""
    # One frame per open collection: for a mapping, the keys seen (key -> line)
    # and whether the next node is a key.
    stack: list[tuple[dict[str, int] | None, list[bool]]] = []
    aliases = nodes = 0
    # libyaml's parser when present: the events are the same, whatever the loader resolves
    for ev in yaml.parse(text, Loader=_EVENTS if _EVENTS is not None else loader):
        is_key = False
        if isinstance(ev, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:
                raise _problem(path, ev.start_mark, f"more than {MAX_NODES} values in one file")
        if stack and stack[-1][0] is not None:
            expect = stack[-1][1]
            is_key = expect[0]
            if isinstance(ev, yaml.MappingEndEvent):
                is_key = False
            else:
                expect[0] = not expect[0]
        if isinstance(ev, yaml.ScalarEvent):
            seen = stack[-1][0] if is_key else None
            if seen is not None and ev.value != _MERGE:
                line = ev.start_mark.line + 1 if ev.start_mark else 0
                if ev.value in seen:
                    raise _problem(
                        path,
                        ev.start_mark,
                        f"duplicate key {ev.value!r} (first at line {seen[ev.value]}, "
                        f"again at line {line}); give each key once",
                    )
                seen[ev.value] = line
            elif ev.implicit[0] and not ev.style and _NON_FINITE.match(ev.value):
                raise _problem(
                    path,
                    ev.start_mark,
                    f"{ev.value} is not a finite number; write the number itself",
                )
        elif isinstance(ev, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _problem(path, ev.start_mark, f"more than {MAX_ALIASES} aliases")
        elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= max_depth:
                raise _problem(path, ev.start_mark, f"nested deeper than {max_depth} levels")
            mapping = isinstance(ev, yaml.MappingStartEvent)
            stack.append(({} if mapping else None, [True]))
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            stack.pop()


def _yaml_error(exc: yaml.YAMLError, path: str, max_depth: int) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    if "maximum nesting depth" in problem:  # libyaml's own limit, met while it looks ahead
        problem = f"nested deeper than {max_depth} levels"
    return _problem(path, mark, problem)


def parse_yaml(
    text: str,
    path: str | os.PathLike[str],
    loader: Any = yaml.SafeLoader,
    *,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse ``text`` (read from ``path``); ConfigError with line and column if not usable."""
    name = os.fspath(path)
    try:
        _check_events(text, name, loader, max_depth)
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, name, max_depth) from None
    except RecursionError:  # not reached within max_depth; kept so no traceback escapes
        raise ConfigError(name, None, "not valid YAML: nested too deeply") from None


def read_yaml(
    path: str | os.PathLike[str],
    loader: Any = yaml.SafeLoader,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Read and parse one YAML file (``None`` for an empty one)."""
    return parse_yaml(read_text(path, max_bytes=max_bytes), path, loader, max_depth=max_depth)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _json_depth(text: str, max_depth: int) -> int | None:
    """Offset where brackets nest deeper than ``max_depth`` (strings skipped), or None."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return i
        elif ch in "]}":
            depth -= 1
    return None


def read_json(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """Read one JSON file with the same hygiene as YAML (size, kind, UTF-8, depth, keys)."""
    name = os.fspath(path)
    text = read_text(name, max_bytes=max_bytes)
    deep = _json_depth(text, max_depth)
    if deep is not None:
        line = text.count("\n", 0, deep) + 1
        raise ConfigError(
            name, None, f"not valid JSON: line {line}: nested deeper than {max_depth} levels"
        )
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            name, None, f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ConfigError(name, None, f"not valid JSON: {exc}") from None
