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
  busy time (s), peak temperature.  The first four are float64 totals fed
  from float32 per-step sums of at most ``_BATCH`` steps of one ``dt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microrack.sim._model import BoardModel

__all__ = ["Twin"]

_F = np.float32  # state and parameters: halves memory traffic
_ACC = np.float64  # accumulators: a month of 1 s steps must not lose increments
_BATCH = 64  # steps summed in float32 before they are added to the float64 totals


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
        # accumulators (energy J, throttled s, work s, busy s): float64 totals,
        # fed from float32 sums of at most _BATCH steps of one dt (see _flush)
        self._totals = np.zeros((4, n), _ACC)
        self._pending = np.zeros((4, n), _F)
        self._pending_steps = 0
        self._pending_dt = 0.0
        self.peak_temp = self.temp.copy()
        self.time = 0.0

        self._derived()
        self._buf = [np.empty(n, _F) for _ in range(4)]
        self._flush_buf = np.empty((4, n), _ACC)
        # clock = 1 - (T - soft) * inv_band * span, before clipping
        self._neg_slope = (-self.inv_band * self.clock_span).astype(_F)
        self._dt_key: float | None = None
        self._neg_dt_inv_c = np.empty(n, _F)
        self._nvme_decay = np.empty(n, _F)

    # -- inputs that change rarely: recompute the arrays derived from them
    def _derived(self) -> None:
        up = self.up
        self._base_w = np.where(up > 0, self.idle_w, self.off_w)
        self._dyn_up = self.dyn_w * up
        self._fan_live = self.fan_ok * up * self.has_fan
        self._nvme_idle_up = self.nvme_idle_w * up
        self._nvme_act_up = self.nvme_act_w * up
        self._clock_cap = np.where(self.under_voltage & self.is_pi, self.min_clock,
                                   _F(1.0)).astype(_F)

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

    def _dt_terms(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-node factors that depend only on ``dt``, cached for the last ``dt`` used."""
        if self._dt_key != dt:
            self._neg_dt_inv_c = (self.inv_c * _F(-dt)).astype(_F)
            self._nvme_decay = np.exp(self.nvme_inv_tau * _F(-dt)).astype(_F)
            self._dt_key = dt
        return self._neg_dt_inv_c, self._nvme_decay

    def step(self, dt: float, *, track: bool = True) -> None:
        """Advance every node by ``dt`` seconds.

        Every operation writes into preallocated arrays (no temporaries), and
        the factors that depend only on ``dt`` are computed once per ``dt``.
        """
        t1, t2, g, teq = self._buf
        neg_dt_inv_c, nvme_decay = self._dt_terms(dt)
        temp = self.temp
        amb = self.ambient
        util = self.util
        # firmware throttle from the temperature at the start of the step:
        # clock = clip(1 - (T - soft) / band * span, min_clock, cap)
        clock = self.clock
        np.subtract(temp, self.soft_c, out=clock)
        clock *= self._neg_slope
        clock += 1.0
        np.maximum(clock, self.min_clock, out=clock)  # (np.clip with array bounds
        np.minimum(clock, self._clock_cap, out=clock)  # is several times slower)
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
        np.multiply(util, clock, out=bp)
        bp *= clock
        bp *= self._dyn_up
        bp += self._base_w
        # heat: exact solution of C dT/dt = P - G (T - T_amb) over dt
        np.multiply(duty, self.g_fan, out=g)
        g += self.g_off
        np.divide(bp, g, out=teq)
        teq += amb
        g *= neg_dt_inv_c
        np.exp(g, out=g)
        temp -= teq
        temp *= g
        temp += teq
        # NVMe: own power plus a share of the board's rise
        nv = self.nvme_temp
        np.multiply(util, self._nvme_act_up, out=t1)
        t1 += self._nvme_idle_up  # NVMe power
        p = self.power
        np.add(bp, t1, out=p)
        t1 *= self.nvme_r
        np.subtract(temp, amb, out=t2)
        t2 *= self.nvme_k
        t1 += t2
        t1 += amb  # drive's equilibrium
        nv -= t1
        nv *= nvme_decay
        nv += t1
        # fan power (affinity law): fan_w * duty**3
        np.multiply(duty, duty, out=t1)
        t1 *= duty
        t1 *= self.fan_w
        p += t1
        self.time += dt
        if not track:
            return
        np.maximum(self.peak_temp, temp, out=self.peak_temp)
        if self._pending_steps and (dt != self._pending_dt or self._pending_steps >= _BATCH):
            self._flush()
        self._pending_dt = dt
        self._pending_steps += 1
        energy, throttled, work, busy = self._pending  # per-step amounts / dt
        energy += p
        np.less(clock, 0.999, out=t1)
        throttled += t1
        np.multiply(util, self.up, out=t1)
        busy += t1
        t1 *= clock
        work += t1

    def _flush(self) -> None:
        """Add the pending float32 sums, times their common dt, to the float64 totals."""
        if self._pending_steps:
            np.multiply(self._pending, self._pending_dt, out=self._flush_buf)
            self._totals += self._flush_buf
            self._pending.fill(0.0)
            self._pending_steps = 0

    @property
    def energy_j(self) -> np.ndarray:
        """Energy used since the start, J (float64)."""
        self._flush()
        return self._totals[0]

    @property
    def throttled_s(self) -> np.ndarray:
        """Time spent with the clock below full speed, s."""
        self._flush()
        return self._totals[1]

    @property
    def work_s(self) -> np.ndarray:
        """Work done, in full-speed busy seconds."""
        self._flush()
        return self._totals[2]

    @property
    def busy_s(self) -> np.ndarray:
        """Time the CPU was demanded (utilisation times time while up), s."""
        self._flush()
        return self._totals[3]

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
