"""field_path: pydantic error locations as the field paths users read."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microrack.errors import ConfigError, field_path


class _Hwmon(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["hwmon"]
    chip: str


class _Gpio(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["gpio"]
    line: int


class _Disk(BaseModel):
    size: int


class _Fan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hwmon: str | None = None
    driver: Annotated[_Hwmon | _Gpio, Field(discriminator="type")]
    disks: int | list[_Disk] = 0
    name: str = "fan"

    @field_validator("name", mode="after")
    @classmethod
    def _short(cls, v: str) -> str:
        if len(v) > 3:
            raise ValueError("too long")
        return v


class _Doc(BaseModel):
    fans: list[_Fan]
    items: list[Annotated[_Hwmon | _Gpio, Field(discriminator="type")]] = []


def _paths(doc: object, **kw: object) -> set[str]:
    with pytest.raises(ValidationError) as exc:
        _Doc.model_validate(doc)
    return {field_path(e["loc"], **kw) for e in exc.value.errors()}  # type: ignore[arg-type]


def test_indices_and_fields() -> None:
    assert field_path(("nodes", 2, "nics", 0, "mac")) == "nodes[2].nics[0].mac"
    assert field_path((0, "x")) == "[0].x"
    assert field_path(()) == ""


def test_a_driver_tag_after_its_field_is_left_out_and_a_field_of_that_name_is_kept() -> None:
    doc = {"fans": [{"hwmon": 5, "driver": {"type": "hwmon", "chip": 1}}]}
    got = _paths(doc, tags=("hwmon", "gpio"), after="driver")
    assert got == {"fans[0].hwmon", "fans[0].driver.chip"}


def test_a_list_items_tag_is_left_out_after_its_index() -> None:
    doc = {"fans": [], "items": [{"type": "gpio", "line": "x"}]}
    assert _paths(doc, tags=("hwmon", "gpio")) == {"items[0].line"}
    # without the tags the reader sees pydantic's tag as a field
    assert _paths(doc) == {"items[0].gpio.line"}


def test_union_members_and_validators_are_not_fields() -> None:
    doc = {"fans": [{"driver": {"type": "gpio", "line": 1}, "disks": [{"size": "big"}]}]}
    got = _paths(doc)
    assert "fans[0].disks[0].size" in got  # not fans[0].disks.list[_Disk][0].size
    assert not any("[_Disk]" in p for p in got)
    doc = {"fans": [{"driver": {"type": "gpio", "line": 1}, "name": "long"}]}
    assert _paths(doc) == {"fans[0].name"}


def test_config_error_names_the_path() -> None:
    err = ConfigError("fan.yaml", field_path(("fans", 0, "pwm")), "too big")
    assert str(err) == "fan.yaml: fans[0].pwm: too big"
