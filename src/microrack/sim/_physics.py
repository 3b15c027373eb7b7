"""The twin's physics: every node of a cluster stepped together as numpy arrays.

Per node, each step of ``dt`` seconds:

* clock: the firmware's throttle, a pure function of the sensor temperature.
  Below the soft limit the clock is 1 (full speed); between the soft and hard
  limits it steps down linearly to ``min_clock``; at or above the hard limit
  it stays at ``min_clock`` (Raspberry Pi firmware: progressive throttle
  80-85 degC, rpi_thermal; RK3588 IPA: 75 degC start, 85 degC target).
  Under-voltage on a Pi caps the clock at ``min_clock`` too.
* power: ``idle + (load - idle) * u * clock**2`` while up (dynamic power
  falls roughly with f*V^2 and DVFS lowers V with f; estimate), ``off_w`` while
  crashed; plus fan ``fan_w * duty**3`` (fan affinity law) and NVMe
  ``nvme_idle + nvme_active * u``.
* heat: first-order RC, solved exactly over the step so any ``dt`` is stable:
  ``G = G_off + duty * (G_full - G_off)`` (conductance, W/K),
  ``T_eq = T_amb + P_board / G``, ``T <- T_eq + (T - T_eq) * exp(-dt G / C)``.
  The NVMe drive has its own RC, heated by its power and by a share of the
  board's rise above ambient.
* bookkeeping: energy (J), time throttled (s), work done (full-speed seconds),
  busy time (s), peak temperature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microrack.sim._model import BoardModel

__all__ = ["Twin"]

_F = np.float32  # state and parameters: halves memory traffic
_ACC = np.float64  # accumulators: a month of 1 s steps must not lose increments


class Twin:
    """State and parameters of ``n`` simulated nodes, advanced together."""

    def __init__(self, boards: Sequence[BoardModel], *, ambient_c: float = 25.0,
                 nvme: Sequence[bool] | None = None) -> None:
        n = len(boards)
        self.n = n
        self.boards = list(boards)

        def col(values: Sequence[float]) -> np.ndarray:
            return np.asarray(values, dtype=_F)

        b = self.boards
        self.idle_w = col([m.idle_w for m in b])
        self.dyn_w = col([m.load_w - m.idle_w for m in b])
        self.off_w = col([m.physics.off_w.value for m in b])
        self.g_off = col([1.0 / m.r_off for m in b])
        self.g_fan = col([1.0 / m.r_full - 1.0 / m.r_off for m in b])
        self.inv_c = col([1.0 / m.physics.heat_capacity.value for m in b])
        self.soft_c = col([m.throttle_soft_c for m in b])
        self.inv_band = col([1.0 / max(m.throttle_hard_c - m.throttle_soft_c, 0.5) for m in b])
        self.min_clock = col([m.physics.min_clock_ratio.value for m in b])
        self.clock_span = 1.0 - self.min_clock
        self.fan_w = col([m.physics.fan_w.value if m.has_fan else 0.0 for m in b])
        self.has_fan = col([1.0 if m.has_fan else 0.0 for m in b])
        self.is_pi = np.array([m.is_pi for m in b], dtype=bool)
        has_nvme = [m.has_nvme_slot for m in b] if nvme is None else list(nvme)
        self.has_nvme = col([1.0 if x else 0.0 for x in has_nvme])
        self.nvme_idle_w = col([m.physics.nvme_idle_w.value for m in b]) * self.has_nvme
        self.nvme_act_w = col([m.physics.nvme_active_w.value for m in b]) * self.has_nvme
        self.nvme_r = col([m.physics.nvme_r.value for m in b])
        self.nvme_k = col([m.physics.nvme_coupling.value for m in b])
        self.nvme_inv_tau = col([1.0 / (m.physics.nvme_r.value * m.physics.nvme_heat_capacity.value)
                                 for m in b])

        # inputs
        self.util = np.zeros(n, _F)  # demanded CPU utilisation 0..1
        self.ambient = np.full(n, ambient_c, _F)
        self.duty = np.ones(n, _F)  # commanded fan duty 0..1
        self.fan_ok = np.ones(n, _F)  # 0 while the fan is stalled
        self.up = np.ones(n, _F)  # 0 while crashed
        self.under_voltage = np.zeros(n, bool)
        # firmware fan curve (used while a node's pwm is in automatic mode)
        self.auto_fan = np.zeros(n, bool)
        self._curves: dict[tuple[tuple[float, float], ...], np.ndarray] = {}
        for i, m in enumerate(b):
            if m.has_fan and m.physics.fan_curve:
                self.use_curve([i], m.physics.fan_curve)

        # state
        self.temp = self.ambient.copy()
        self.nvme_temp = self.ambient.copy()
        self.clock = np.ones(n, _F)
        self.power = np.zeros(n, _F)  # board + fan + NVMe, W
        self.board_power = np.zeros(n, _F)
        self.fan_duty = np.zeros(n, _F)  # effective duty (0 when stalled or down)
        self.energy_j = np.zeros(n, _ACC)
        self.throttled_s = np.zeros(n, _ACC)
        self.work_s = np.zeros(n, _ACC)
        self.busy_s = np.zeros(n, _ACC)
        self.peak_temp = self.temp.copy()
        self.time = 0.0

        self._derived()
        self._buf = [np.empty(n, _F) for _ in range(4)]

    # -- inputs that change rarely: recompute the arrays derived from them
    def _derived(self) -> None:
        up = self.up
        self._base_w = np.where(up > 0, self.idle_w, self.off_w)
        self._dyn_up = self.dyn_w * up
        self._fan_live = self.fan_ok * up * self.has_fan
        self._nvme_idle_up = self.nvme_idle_w * up
        self._nvme_act_up = self.nvme_act_w * up
        self._clock_cap = np.where(self.under_voltage & self.is_pi, self.min_clock, 1.0)

    def use_curve(self, nodes: Sequence[int] | np.ndarray,
                  points: Sequence[tuple[float, float]]) -> None:
        """Drive the fans of ``nodes`` along ``points`` (degC, duty) while ``auto_fan``.

        This is the board firmware's curve (Pi 5) or a fan controller's.
        """
        key = tuple((float(t), float(d)) for t, d in points)
        for mask in self._curves.values():
            mask[nodes] = False
        self._curves.setdefault(key, np.zeros(self.n, bool))[nodes] = True

    def changed(self) -> None:
        """Call after changing ``up``, ``fan_ok`` or ``under_voltage``."""
        self._derived()

    def settle(self) -> None:
        """Jump to the steady state of the present inputs (a warm start)."""
        for _ in range(400):
            self.step(30.0, track=False)

    def step(self, dt: float, *, track: bool = True) -> None:
        """Advance every node by ``dt`` seconds."""
        t1, t2, g, teq = self._buf
        temp = self.temp
        # firmware throttle from the temperature at the start of the step
        clock = self.clock
        np.subtract(temp, self.soft_c, out=t1)
        t1 *= self.inv_band
        np.clip(t1, 0.0, 1.0, out=t1)
        np.multiply(t1, self.clock_span, out=clock)
        np.subtract(1.0, clock, out=clock)
        np.minimum(clock, self._clock_cap, out=clock)
        # fan
        for curve, mask in self._curves.items() if self.auto_fan.any() else ():
            sel = mask & self.auto_fan
            if sel.any():
                xs, ys = zip(*curve, strict=True)
                self.duty[sel] = np.interp(temp[sel], xs, ys, left=ys[0], right=ys[-1])
        duty = self.fan_duty
        np.multiply(self.duty, self._fan_live, out=duty)
        # board power
        bp = self.board_power
        np.multiply(self.util, clock, out=bp)
        bp *= clock
        bp *= self._dyn_up
        bp += self._base_w
        # heat: exact solution of C dT/dt = P - G (T - T_amb) over dt
        np.multiply(duty, self.g_fan, out=g)
        g += self.g_off
        np.divide(bp, g, out=teq)
        teq += self.ambient
        np.multiply(g, -dt, out=t2)
        t2 *= self.inv_c
        np.exp(t2, out=t2)
        np.subtract(temp, teq, out=t1)
        t1 *= t2
        np.add(teq, t1, out=temp)
        # NVMe: own power plus a share of the board's rise
        nv = self.nvme_temp
        np.multiply(self.util, self._nvme_act_up, out=t1)
        t1 += self._nvme_idle_up  # NVMe power
        p = self.power
        np.add(bp, t1, out=p)
        t1 *= self.nvme_r
        np.subtract(temp, self.ambient, out=t2)
        t2 *= self.nvme_k
        t1 += t2
        t1 += self.ambient  # drive's equilibrium
        np.multiply(self.nvme_inv_tau, -dt, out=t2)
        np.exp(t2, out=t2)
        nv -= t1
        nv *= t2
        nv += t1
        # fan power (affinity law)
        np.power(duty, 3, out=t1)
        t1 *= self.fan_w
        p += t1
        self.time += dt
        if not track:
            return
        np.multiply(p, dt, out=t1)
        self.energy_j += t1
        np.maximum(self.peak_temp, temp, out=self.peak_temp)
        np.multiply(self.util, self.up, out=t1)
        t1 *= dt
        self.busy_s += t1
        t1 *= clock
        self.work_s += t1
        self.throttled_s += (clock < 0.999) * dt

    # -- views
    def flags(self) -> np.ndarray:
        """Pi ``get_throttled`` bits now: 0 under-voltage, 1 capped, 2 throttled, 3 soft limit."""
        now = (
            self.under_voltage.astype(np.int64)
            | ((self.clock < 0.999) << 1)
            | (((self.temp >= 1.0 / self.inv_band + self.soft_c) | self.under_voltage) << 2)
            | ((self.temp >= self.soft_c) << 3)
        )
        return now * (self.up > 0)
