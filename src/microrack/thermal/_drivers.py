"""Fan drivers: the thin part that writes a duty and reads a tach.

Every driver takes control on :meth:`open`, remembers what it found, and on
:meth:`close` leaves the fan at full duty and hands control back (an hwmon
fan goes back to the ``pwmN_enable`` mode it was in; an EMC230x gets its
RPM-control bit back).  Drivers raise ``OSError`` on I/O failure; the loop
decides what that means.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from microrack.sensors import HostFS

__all__ = [
    "EMC230X_PRODUCTS",
    "DryRunDriver",
    "Emc230xDriver",
    "FanDriver",
    "GpioDriver",
    "HwmonPwmDriver",
]

log = logging.getLogger("microrack.thermal")


class FanDriver(Protocol):
    """What the control loop needs from a fan."""

    description: str

    def open(self) -> None:
        """Take control of the fan (manual mode), remembering the previous mode."""

    def set_duty(self, ratio: float) -> None:
        """Drive the fan at ``ratio`` (0..1)."""

    def read_rpm(self) -> float | None:
        """The tach reading in rpm, or None when the fan has no tach."""

    def close(self) -> None:
        """Leave the fan at full duty and hand control back."""

    def saved_mode(self) -> str | None:
        """The mode :meth:`close` will hand back (recorded so that a later run can restore it)."""

    def assume_mode(self, mode: str) -> None:
        """After :meth:`open`: hand back ``mode`` (from an earlier, killed run) on :meth:`close`."""


class HwmonPwmDriver:
    """An hwmon PWM channel: ``pwmN`` (0..255), ``pwmN_enable``, ``fanN_input``."""

    def __init__(self, fs: HostFS, directory: str, channel: int = 1, pwm_max: int = 255) -> None:
        self._fs = fs
        self._pwm = f"{directory}/pwm{channel}"
        self._enable = f"{directory}/pwm{channel}_enable"
        self._tach = f"{directory}/fan{channel}_input"
        self._max = pwm_max
        self.pwm_max = pwm_max
        self._previous_enable: str | None = None
        self._opened = False
        self.description = f"hwmon {self._pwm}"

    def open(self) -> None:
        if self._opened:
            return
        if self._fs.exists(self._enable):
            self._previous_enable = self._fs.read_text(self._enable).strip()
            if self._previous_enable != "1":
                self._fs.write_text(self._enable, "1")  # 1 = manual PWM control
        self._opened = True

    def set_duty(self, ratio: float) -> None:
        self._fs.write_text(self._pwm, str(round(min(1.0, max(0.0, ratio)) * self._max)))

    def read_rpm(self) -> float | None:
        if not self._fs.exists(self._tach):
            return None
        raw = self._fs.read_text(self._tach).strip()
        # hwmon fanN_input is a non-negative integer; anything else is a failed read
        if not raw.isdigit() or not raw.isascii():
            raise ValueError(f"{self._tach}: not an rpm reading: {raw[:40]!r}")
        return float(int(raw))

    def saved_mode(self) -> str | None:
        return self._previous_enable

    def assume_mode(self, mode: str) -> None:
        if mode.isdigit() and self._previous_enable is not None:
            self._previous_enable = mode

    def read_duty(self) -> float:
        """What ``pwmN`` reads back, as a ratio of ``pwm_max``."""
        raw = self._fs.read_text(self._pwm).strip()
        if not raw.isdigit() or not raw.isascii():
            raise ValueError(f"{self._pwm}: not a PWM value: {raw[:40]!r}")
        return int(raw) / self._max

    def close(self) -> None:
        if not self._opened:
            return
        try:
            self._fs.write_text(self._pwm, str(self._max))
        finally:
            if self._previous_enable is not None and self._previous_enable != "1":
                self._fs.write_text(self._enable, self._previous_enable)
            self._opened = False


class GpioDriver:
    """A fan switched by one GPIO line through the Linux GPIO character device (libgpiod v2)."""

    def __init__(self, chip: str, line: int | str, *, active_low: bool = False) -> None:
        self._chip = chip
        self._line = line
        self._active_low = active_low
        self._request: Any = None
        self.description = f"gpio {chip} line {line}"

    @staticmethod
    def chip_path(chip: str) -> str:
        """``/dev/gpiochipN`` for a path, a device name or a chip label (as gpio-sim sets)."""
        import gpiod

        if chip.startswith("/"):
            if not os.path.exists(chip):
                raise FileNotFoundError(f"no GPIO chip {chip}")
            return chip
        if os.path.exists(f"/dev/{chip}"):
            return f"/dev/{chip}"
        for name in sorted(os.listdir("/dev")):
            path = f"/dev/{name}"
            if name.startswith("gpiochip") and gpiod.is_gpiochip_device(path):
                with gpiod.Chip(path) as c:
                    if c.get_info().label == chip:
                        return path
        raise FileNotFoundError(f"no GPIO chip named {chip!r}")

    def open(self) -> None:
        if self._request is not None:
            return
        import gpiod
        from gpiod.line import Direction, Value

        settings = gpiod.LineSettings(
            direction=Direction.OUTPUT, active_low=self._active_low, output_value=Value.ACTIVE
        )
        self._request = gpiod.request_lines(
            self.chip_path(self._chip), consumer="microrack-fan", config={self._line: settings}
        )

    def set_duty(self, ratio: float) -> None:
        from gpiod.line import Value

        self._request.set_value(self._line, Value.ACTIVE if ratio > 0.0 else Value.INACTIVE)

    def read_rpm(self) -> float | None:
        return None

    def saved_mode(self) -> str | None:
        return None

    def assume_mode(self, mode: str) -> None:
        pass  # an on/off fan is left switched on; there is no other mode

    def close(self) -> None:
        if self._request is None:
            return
        from gpiod.line import Value

        try:
            self._request.set_value(self._line, Value.ACTIVE)
        finally:
            # gpiolib keeps an output line's direction and level after release.
            self._request.release()
            self._request = None


# Register map of the Microchip EMC2301/2/3/5 (datasheet DS20006532, and the
# Linux emc2305 hwmon driver): fan n (1-based) registers are 0x10 apart.
EMC230X_PRODUCTS = {0x34: "EMC2305", 0x35: "EMC2303", 0x36: "EMC2302", 0x37: "EMC2301"}
EMC230X_CHANNELS = {"EMC2305": 5, "EMC2303": 3, "EMC2302": 2, "EMC2301": 1}
REG_PRODUCT_ID = 0xFD
REG_MANUFACTURER_ID = 0xFE
MANUFACTURER_MICROCHIP = 0x5D
REG_FAN_SETTING = 0x30
REG_FAN_CONFIG1 = 0x32
REG_TACH_HIGH = 0x3E
REG_TACH_LOW = 0x3F
CONFIG1_EN_ALGO = 0x80  # the chip's own closed-loop RPM control
RPM_FACTOR = 3932160  # datasheet equations 2 and 3, 2-pole fan, 5 edges (as Linux)
TACH_STOPPED = 0x1FFF  # 13-bit count saturates when the fan is stopped or below range


class Emc230xDriver:
    """One channel of an EMC230x fan controller on an SMBus, via smbus2.

    ``bus`` is an open ``smbus2.SMBus`` or anything with its
    ``read_byte_data``/``write_byte_data``; ``open_bus`` opens one by number.
    """

    def __init__(self, bus: Any, address: int = 0x2F, channel: int = 1) -> None:
        self._bus = bus
        self._addr = address
        self._channel = channel
        self._base = 0x10 * (channel - 1)
        self._previous_config: int | None = None
        self.product: str | None = None
        self.description = f"emc230x 0x{address:02x} fan {channel}"

    @staticmethod
    def open_bus(number: int) -> Any:
        import smbus2

        return smbus2.SMBus(number)

    def detect(self) -> str:
        """The chip's name from its product id; ``OSError`` if it is not an EMC230x."""
        maker = self._bus.read_byte_data(self._addr, REG_MANUFACTURER_ID)
        product = self._bus.read_byte_data(self._addr, REG_PRODUCT_ID)
        name = EMC230X_PRODUCTS.get(product)
        if maker != MANUFACTURER_MICROCHIP or name is None:
            raise OSError(
                f"0x{self._addr:02x} is not an EMC230x "
                f"(manufacturer 0x{maker:02x}, product 0x{product:02x})"
            )
        if self._channel > EMC230X_CHANNELS[name]:
            raise OSError(f"{name} has no fan {self._channel}")
        return name

    def open(self) -> None:
        if self._previous_config is not None:
            return
        self.product = self.detect()
        config = self._bus.read_byte_data(self._addr, REG_FAN_CONFIG1 + self._base)
        self._previous_config = config
        if config & CONFIG1_EN_ALGO:
            # Direct setting mode: the drive register is the duty.
            self._bus.write_byte_data(
                self._addr, REG_FAN_CONFIG1 + self._base, config & ~CONFIG1_EN_ALGO
            )

    def set_duty(self, ratio: float) -> None:
        value = round(min(1.0, max(0.0, ratio)) * 255)
        self._bus.write_byte_data(self._addr, REG_FAN_SETTING + self._base, value)

    def read_rpm(self) -> float | None:
        # The high byte latches the low byte, so read it first.
        high = self._bus.read_byte_data(self._addr, REG_TACH_HIGH + self._base)
        low = self._bus.read_byte_data(self._addr, REG_TACH_LOW + self._base)
        count = (high << 5) | (low >> 3)
        if count == 0 or count >= TACH_STOPPED:
            return 0.0
        return RPM_FACTOR / count

    def saved_mode(self) -> str | None:
        return None if self._previous_config is None else str(self._previous_config)

    def assume_mode(self, mode: str) -> None:
        if mode.isdigit() and self._previous_config is not None and int(mode) < 256:
            self._previous_config = int(mode)

    def read_duty(self) -> float:
        """The drive register read back, as a ratio."""
        return int(self._bus.read_byte_data(self._addr, REG_FAN_SETTING + self._base)) / 255

    def close(self) -> None:
        if self._previous_config is None:
            return
        try:
            self._bus.write_byte_data(self._addr, REG_FAN_SETTING + self._base, 0xFF)
        finally:
            if self._previous_config & CONFIG1_EN_ALGO:
                self._bus.write_byte_data(
                    self._addr, REG_FAN_CONFIG1 + self._base, self._previous_config
                )
            self._previous_config = None


class DryRunDriver:
    """Reads the real fan but only logs what it would write (``--dry-run``)."""

    def __init__(self, inner: FanDriver) -> None:
        self._inner = inner
        self.description = f"{inner.description} (dry run)"
        self.written: list[float] = []

    def open(self) -> None:
        log.info("dry run: would take control of %s", self._inner.description)

    def set_duty(self, ratio: float) -> None:
        self.written.append(ratio)
        log.info("dry run: would set %s to %.0f%%", self._inner.description, ratio * 100)

    def read_rpm(self) -> float | None:
        return self._inner.read_rpm()

    def saved_mode(self) -> str | None:
        return None

    def assume_mode(self, mode: str) -> None:
        pass

    def close(self) -> None:
        log.info("dry run: would set %s to full and hand it back", self._inner.description)
