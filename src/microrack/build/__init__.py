"""Artifacts for the boards: the single-file agent (``microrack build agent``)."""

from microrack.build._pyz import ARCHITECTURES, PYTHONS, BuildResult, build_agent

__all__ = ["ARCHITECTURES", "PYTHONS", "BuildResult", "build_agent"]
