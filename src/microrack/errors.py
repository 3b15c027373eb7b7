"""One exception hierarchy for every microrack package.

The CLI turns a :class:`MicrorackError` into one line on stderr and a non-zero
exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MicrorackError",
    "ResourceError",
    "UsageError",
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
