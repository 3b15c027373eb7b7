"""Bench profiles: a YAML file of the same settings as the command-line flags.

A profile saves typing the same sizes for every board (``examples/bench-*.yaml``).
Precedence: a flag given on the command line, then the profile, then the
built-in default.  Sizes are fio-style strings (``4k``, ``256M``).
"""

from __future__ import annotations

import math
import os
from typing import Any

from microrack.bench.cpu import CpuParams
from microrack.bench.measure import parse_size
from microrack.bench.mixed import MixedParams
from microrack.bench.net import NetParams
from microrack.bench.storage import StorageParams
from microrack.errors import ConfigError, UsageError, field_path

__all__ = ["DEFAULTS", "load_profile", "resolve_settings", "suite_options"]

#: Built-in defaults, by command-line destination name.
DEFAULTS: dict[str, Any] = {
    "scheduler": None,
    "local": 2,
    "threads": 1,
    "dir": ".",
    "size": "256M",
    "block_size": "1M",
    "queue_depth": 16,
    "direct": None,
    "runtime": 5.0,
    "pair": None,
    "message_size": "64",
    "round_trips": 2000,
    "stream_size": "256M",
    "exchange_size": "8M",
    "cpu_elements": 1 << 20,
    "matrix": 512,
    "width": 12,
}

# profile section.field -> settings key
_FIELDS = {
    ("engine", "scheduler"): "scheduler",
    ("engine", "local"): "local",
    ("engine", "threads"): "threads",
    ("storage", "dir"): "dir",
    ("storage", "size"): "size",
    ("storage", "block_size"): "block_size",
    ("storage", "queue_depth"): "queue_depth",
    ("storage", "direct"): "direct",
    ("storage", "runtime"): "runtime",
    ("net", "pair"): "pair",
    ("net", "message_size"): "message_size",
    ("net", "round_trips"): "round_trips",
    ("net", "stream_size"): "stream_size",
    ("net", "exchange_size"): "exchange_size",
    ("cpu", "elements"): "cpu_elements",
    ("cpu", "matrix"): "matrix",
    ("mixed", "width"): "width",
}


def _model() -> Any:
    """The pydantic model, built on first use (pydantic is only needed with --profile)."""
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field

    Size = Annotated[str | int, Field(description="fio-style size: 4k, 256M, 1G")]
    Pos = Annotated[int, Field(ge=1)]

    class Section(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class Engine(Section):
        scheduler: str | None = None
        local: Pos | None = None
        threads: Pos | None = None

    class Storage(Section):
        dir: str | None = None
        size: Size | None = None
        block_size: Size | None = None
        queue_depth: Pos | None = None
        direct: bool | None = None
        runtime: Annotated[float, Field(gt=0)] | None = None

    class Net(Section):
        pair: Annotated[list[str], Field(min_length=2, max_length=2)] | None = None
        message_size: Size | None = None
        round_trips: Pos | None = None
        stream_size: Size | None = None
        exchange_size: Size | None = None

    class Cpu(Section):
        elements: Pos | None = None
        matrix: Pos | None = None

    class Mixed(Section):
        width: Pos | None = None

    class Profile(Section):
        engine: Engine = Engine()
        storage: Storage = Storage()
        net: Net = Net()
        cpu: Cpu = Cpu()
        mixed: Mixed = Mixed()

    return Profile


def load_profile(path: str) -> dict[str, Any]:
    """The settings a profile file sets (only those it sets), or a ConfigError."""
    from pydantic import ValidationError

    from microrack._yaml import read_yaml

    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(path, None, "expected a mapping with engine/storage/net/cpu/mixed")
    try:
        profile = _model().model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path(err["loc"]) or None
        raise ConfigError(path, field, err["msg"]) from None
    out: dict[str, Any] = {}
    for (section, name), key in _FIELDS.items():
        value = getattr(getattr(profile, section), name)
        if value is not None:
            if key in {"size", "block_size", "message_size", "stream_size", "exchange_size"}:
                try:
                    parse_size(str(value), key)
                except UsageError as e:
                    raise ConfigError(path, f"{section}.{name}", e.message) from None
                value = str(value)
            if key == "pair":
                value = ",".join(value)
            out[key] = value
    return out


def resolve_settings(cli: dict[str, Any], profile_path: str | None) -> dict[str, Any]:
    """Flag given > profile > default."""
    settings = dict(DEFAULTS)
    if profile_path:
        settings.update(load_profile(profile_path))
    settings.update({k: v for k, v in cli.items() if k in DEFAULTS and v is not None})
    if cli.get("local") is not None:
        settings["scheduler"] = None  # --local on the command line beats a profile's scheduler
    return settings


def _positive(value: Any, argument: str) -> int:
    if int(value) < 1:
        raise UsageError(argument, f"{value} must be at least 1")
    return int(value)


#: ping-pong messages are built and compared in Python; larger ones are a stream's job
MAX_MESSAGE = 64 << 20


def suite_options(workloads: tuple[str, ...], s: dict[str, Any], progress: bool) -> Any:
    """Settings -> SuiteOptions, each bad value named by its flag."""
    from microrack.bench.suite import SuiteOptions

    pair = None
    if s["pair"]:
        parts = [p.strip() for p in str(s["pair"]).split(",")]
        if len(parts) != 2 or not all(parts):
            raise UsageError("--pair", f"{s['pair']!r}: expected A,B")
        pair = (parts[0], parts[1])
    if not math.isfinite(float(s["runtime"])) or float(s["runtime"]) <= 0:
        raise UsageError("--runtime", f"{s['runtime']} must be a number of seconds above 0")
    storage = StorageParams(
        directory=os.path.abspath(str(s["dir"])),
        size=parse_size(s["size"], "--size"),
        block_size=parse_size(s["block_size"], "--block-size"),
        queue_depth=_positive(s["queue_depth"], "--queue-depth"),
        direct=s["direct"],
        runtime=float(s["runtime"]),
    )
    message_size = parse_size(s["message_size"], "--message-size")
    if message_size > MAX_MESSAGE:
        raise UsageError(
            "--message-size",
            f"{s['message_size']} is more than the "
            f"{MAX_MESSAGE >> 20}M a ping-pong message may be "
            "(--stream-size measures large transfers)",
        )
    return SuiteOptions(
        workloads=workloads,
        scheduler=s["scheduler"],
        local=_positive(s["local"], "--local"),
        threads=_positive(s["threads"], "--threads"),
        cpu=CpuParams(
            int_elements=_positive(s["cpu_elements"], "--cpu-elements"),
            matrix=_positive(s["matrix"], "--matrix"),
        ),
        storage=storage,
        net=NetParams(
            pair=pair,
            small=message_size,
            round_trips=_positive(s["round_trips"], "--round-trips"),
            stream_bytes=parse_size(s["stream_size"], "--stream-size"),
            all_to_all_bytes=parse_size(s["exchange_size"], "--exchange-size"),
        ),
        mixed=MixedParams(width=_positive(s["width"], "--width")),
        progress=progress,
    )
