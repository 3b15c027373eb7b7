"""One exception hierarchy for every microrack package.

The CLI turns a :class:`MicrorackError` into one line on stderr and a non-zero
exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

__all__ = [
    "ConfigError",
    "MicrorackError",
    "ResourceError",
    "UsageError",
    "field_path",
]


class MicrorackError(Exception):
    """Base of every error that the user can fix."""

    exit_code = 1


class UsageError(MicrorackError):
    """A command-line argument is wrong; names the argument."""

    exit_code = 2

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.message = message
        super().__init__(f"{argument}: {message}")


class ConfigError(MicrorackError):
    """A file the user wrote is wrong; names the file and the field path."""

    exit_code = 1

    def __init__(self, path: str, field: str | None, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")


class ResourceError(MicrorackError):
    """Something outside microrack is not as needed (a port in use, a file unreadable)."""

    exit_code = 1


# pydantic names the member of a union or the validator it tried inside ``loc``
# (``function-after[check(), Model]``, ``list[Storage]``, ``literal['a']``).
_SCHEMA_LABEL = re.compile(r"^[\w-]+[\[(]")


def field_path(
    loc: Iterable[str | int], *, tags: Collection[str] = (), after: str | None = None
) -> str:
    """A pydantic error location as the field path a user reads.

    ``('nodes', 2, 'nics', 0, 'mac')`` -> ``nodes[2].nics[0].mac``; ``''`` for the
    top level.  pydantic's own labels of a union member or a validator are left
    out.  ``tags`` are the tags of a tagged union on the path: one is left out
    where it follows the union's place, the field ``after`` or, without
    ``after``, a list index (the index already names the item).
    """
    out = ""
    prev: str | int | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SCHEMA_LABEL.match(part):
            continue  # transparent: the tag test below looks past it
        elif part in tags and (prev == after if after is not None else isinstance(prev, int)):
            pass  # a tagged union's tag: the union's place already names the item
        else:
            out += f".{part}" if out else part
        prev = part
    return out
