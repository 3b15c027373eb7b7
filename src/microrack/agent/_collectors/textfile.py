"""The textfile collector: ``*.prom`` files of the user's scripts merged into /metrics.

node_exporter's semantics: every ``*.prom`` file of ``--collector.textfile.directory``
is parsed as Prometheus text format; a file that does not parse, carries
client-side timestamps or contradicts another file is skipped whole and sets
``node_textfile_scrape_error`` to 1; ``node_textfile_mtime_seconds{file}`` is
exported for every file read successfully.  A broken file never breaks the
exposition: only the families of the files that parsed are served.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import ClassVar

from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions
from microrack.exposition import escape_help, escape_label, format_value
from microrack.sensors import HostFS

__all__ = ["Family", "TextFormatError", "TextfileCollector", "parse_text"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("counter", "gauge", "untyped", "histogram", "summary")
_MAX_FILE = 64 * 2**20  # a runaway script must not eat the agent's memory
# what expfmt's parser takes as the docstring: after the name and its blanks, to the end of the
# line, trailing blanks included (node_exporter serves them as written)
_HELP_TEXT = re.compile(r"[ \t]*#[ \t]*HELP[ \t]+[^ \t]+[ \t]*(.*)", re.S)
_HELP_ESCAPE = re.compile(r"\\(.?)", re.S)


class TextFormatError(ValueError):
    """A ``.prom`` file is not valid Prometheus text format; names the line."""


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, tuple[tuple[str, str], ...], float]] = field(default_factory=list)


def _value(text: str, lineno: int) -> float:
    try:
        return float(text)  # accepts NaN, +Inf, -Inf as Go's ParseFloat does
    except ValueError:
        raise TextFormatError(f"line {lineno}: {text!r} is not a number") from None


def _labels(text: str, pos: int, lineno: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Parse ``{a="x",b="y"}`` starting after ``{``; returns labels and the index after ``}``."""
    labels: list[tuple[str, str]] = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == "}":
            return tuple(labels), pos + 1
        m = _LABEL_NAME.match(text, pos)
        if m is None:
            raise TextFormatError(f"line {lineno}: bad label name at column {pos + 1}")
        name = m.group()
        pos = m.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if text[pos : pos + 2] != '="':
            raise TextFormatError(f'line {lineno}: expected =" after label {name}')
        pos += 2
        buf: list[str] = []
        while True:
            if pos >= n:
                raise TextFormatError(f"line {lineno}: unterminated label value")
            ch = text[pos]
            if ch == "\\":
                nxt = text[pos + 1 : pos + 2]
                buf.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                pos += 2
                continue
            if ch == '"':
                pos += 1
                break
            buf.append(ch)
            pos += 1
        if any(k == name for k, _ in labels):
            raise TextFormatError(f"line {lineno}: label {name} given twice")
        labels.append((name, "".join(buf)))
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == ",":
            pos += 1
        elif pos < n and text[pos] == "}":
            return tuple(labels), pos + 1
        else:
            raise TextFormatError(f"line {lineno}: expected , or }} after label {name}")


def _family_of(sample: str, families: dict[str, Family]) -> Family | None:
    for suffix in ("_bucket", "_sum", "_count"):
        if sample.endswith(suffix):
            fam = families.get(sample[: -len(suffix)])
            if fam is not None and fam.type in ("histogram", "summary"):
                if suffix == "_bucket" and fam.type != "histogram":
                    continue
                return fam
    return families.get(sample)


def parse_text(text: str) -> dict[str, Family]:
    """Prometheus text format 0.0.4 -> families; :class:`TextFormatError` on any mistake."""
    families: dict[str, Family] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    typed: set[str] = set()
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].split(None, 2)
            if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
                continue  # a plain comment
            kind, name = parts[0], parts[1]
            rest = parts[2] if len(parts) > 2 else ""
            if not _NAME.fullmatch(name):
                raise TextFormatError(f"line {lineno}: invalid metric name {name!r}")
            fam = families.get(name)
            if kind == "HELP":
                if not rest:
                    continue  # expfmt: a HELP with no text is no HELP (the default one is used)
                if fam is None:
                    fam = families[name] = Family(name)
                elif fam.help is not None:
                    raise TextFormatError(f"line {lineno}: second HELP for {name}")
                fam.help = _help_text(raw, lineno)
            else:
                if rest not in _TYPES:
                    raise TextFormatError(f"line {lineno}: unknown type {rest!r} for {name}")
                if fam is None:
                    fam = families[name] = Family(name)
                elif fam.samples or name in typed:
                    raise TextFormatError(
                        f"line {lineno}: TYPE for {name} after its samples or given twice"
                    )
                fam.type = rest
                typed.add(name)
            continue
        m = _NAME.match(line)
        if m is None:
            raise TextFormatError(f"line {lineno}: invalid metric name")
        name, pos = m.group(), m.end()
        labels: tuple[tuple[str, str], ...] = ()
        if pos < len(line) and line[pos] == "{":
            labels, pos = _labels(line, pos + 1, lineno)
        fields = line[pos:].split()
        if not fields or len(fields) > 2:
            raise TextFormatError(f"line {lineno}: expected a value after {name}")
        if len(fields) == 2:
            raise TextFormatError(f"line {lineno}: client-side timestamps are not supported")
        value = _value(fields[0], lineno)
        fam = _family_of(name, families)
        if fam is None:
            fam = families[name] = Family(name)
        ident = (name, tuple(sorted(labels)))
        if ident in seen:
            raise TextFormatError(f"line {lineno}: series {name}{dict(labels)} given twice")
        seen.add(ident)
        fam.samples.append((name, tuple(sorted(labels)), value))
    return {n: f for n, f in families.items() if f.samples}


def _help_text(raw: str, lineno: int) -> str:
    """A HELP line's text as expfmt reads it: ``\\\\`` and ``\\n`` unescaped, any other refused."""
    m = _HELP_TEXT.match(raw.rstrip("\r"))
    text = m.group(1) if m is not None else ""

    def unescape(e: re.Match[str]) -> str:
        if e[1] == "\\":
            return "\\"
        if e[1] == "n":
            return "\n"
        raise TextFormatError(f"line {lineno}: invalid escape sequence {e[0]!r} in HELP")

    return _HELP_ESCAPE.sub(unescape, text)


def render_family(fam: Family, help_text: str) -> str:
    out = [f"# HELP {fam.name} {escape_help(help_text)}", f"# TYPE {fam.name} {fam.type}"]
    for name, labels, value in fam.samples:
        if labels:
            inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
            out.append(f"{name}{{{inner}}} {format_value(value)}")
        else:
            out.append(f"{name} {format_value(value)}")
    return "\n".join(out) + "\n"


class TextfileCollector:
    name: ClassVar[str] = "textfile"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.directory = options.textfile_directory
        self._logged: set[str] = set()
        self._this_cycle: set[str] = set()

    def collect(self, out: PointSink) -> None:
        errored = False
        directory = self.directory or ""
        try:
            # no directory given: nothing to read, and no error (node_exporter's default "")
            names = sorted(os.listdir(directory)) if directory else []
        except OSError as exc:
            errored = True
            names = []
            self._log(f"cannot read the textfile directory {self.directory}: {exc.strerror}")
        merged: dict[str, Family] = {}
        sources: dict[str, list[str]] = {}
        mtimes: dict[str, float] = {}
        for fname in names:
            if not fname.endswith(".prom"):
                continue
            path = os.path.join(directory, fname)
            try:
                with open(path, "rb") as f:
                    data = f.read(_MAX_FILE + 1)
                    mtime = os.fstat(f.fileno()).st_mtime
                if len(data) > _MAX_FILE:
                    raise TextFormatError(f"larger than {_MAX_FILE} bytes")
                families = parse_text(data.decode("utf-8"))
                for fam in families.values():
                    prev = merged.get(fam.name)
                    if prev is not None and (
                        prev.type != fam.type
                        or (
                            fam.help is not None and prev.help is not None and fam.help != prev.help
                        )
                    ):
                        raise TextFormatError(
                            f"{fam.name} has another type or help in {', '.join(sources[fam.name])}"
                        )
                    if prev is not None and {(n, lab) for n, lab, _ in prev.samples} & {
                        (n, lab) for n, lab, _ in fam.samples
                    }:
                        raise TextFormatError(
                            f"{fam.name}: a series already read from {', '.join(sources[fam.name])}"
                        )
            except (OSError, UnicodeError, TextFormatError) as exc:
                errored = True
                self._log(f"textfile {path} skipped: {exc}")
                continue
            for fam in families.values():
                prev = merged.get(fam.name)
                if prev is None:
                    merged[fam.name] = fam
                else:
                    prev.samples.extend(fam.samples)
                    prev.help = prev.help if prev.help is not None else fam.help
                sources.setdefault(fam.name, []).append(path)
            mtimes[path] = float(int(mtime))
        for fam in merged.values():
            help_text = (
                fam.help
                if fam.help is not None
                else ("Metric read from " + ", ".join(sources[fam.name]))
            )
            if fam.type in ("histogram", "summary"):
                out.raw.append(render_family(fam, help_text))
                continue
            for sample, labels, value in fam.samples:
                out.add_help(sample, value, fam.type, help_text, **dict(labels))  # type: ignore[arg-type]
        for path in sorted(mtimes):
            out.add_help(
                "node_textfile_mtime_seconds",
                mtimes[path],
                "gauge",
                "Unixtime mtime of textfiles successfully read.",
                file=path,
            )
        out.add_help(
            "node_textfile_scrape_error",
            1 if errored else 0,
            "gauge",
            "1 if there was an error opening or reading a file, 0 otherwise",
        )
        self._logged &= self._this_cycle
        self._this_cycle = set()

    def _log(self, message: str) -> None:
        """Log a file's problem once while it lasts (a script rewrites it every minute)."""
        self._this_cycle.add(message)
        if message not in self._logged:
            self._logged.add(message)
            log.warning("%s", message)
