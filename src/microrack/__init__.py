"""microrack: the software layer of a small single-board-computer cluster."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("microrack")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
