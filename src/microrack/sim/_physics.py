"""The twin's physics: every node of a cluster stepped together as numpy arrays.

Per node, each step of ``dt`` seconds:

* clock: the SoC family's throttle law, a pure function of the die temperature
  (``data/twin.yaml``).  ``linear`` (Raspberry Pi firmware): full speed below
  the soft limit, then down linearly to ``min_clock`` at the hard limit
  (80-85 degC, rpi_thermal), with an optional firmware soft-limit step below
  that ramp (Pi 3B+: 1.4 -> 1.2 GHz above 60 degC).  ``ipa`` (RK3588
  power_allocator): full speed until a narrow band around the 85 degC control
  temperature, inside which the clock falls as far as needed to hold it.
  Under-voltage on a Pi caps the clock at ``min_clock`` too.
* power: ``idle + (load - idle) * k * u * clock**2`` while up, where ``k`` is
  the intensity of the kind of work (1 for the stress-ng figure the catalog
  gives, the fitted HPL share for HPL, ...), ``off_w`` while crashed; plus fan
  ``fan_w * duty**3`` (fan affinity law), NVMe ``nvme_idle + nvme_active * io``
  (``io``: the drive's busy share, set by the work, not by the CPU) and the
  node's share of its carrier board's own draw (a Turing Pi 2 BMC).
* heat: two lumped masses per node, the die (the sensor, ``c_die``) joined
  through ``r_js`` to a sink (PCB + heatsink or case, ``c_sink``) that loses
  heat to ambient through ``G = G_off + duty * (G_full - G_off)``.  Each mass
  is relaxed exactly over the step toward its equilibrium given the other
  (die first, then the sink seeing the new die), so any ``dt`` is stable and
  the steady state is exact: ``T_sink = T_amb + P / G``, ``T_die = T_sink + P r_js``.
  The NVMe drive has its own RC, heated by its power and by a share of the
  die's rise above ambient.
* bookkeeping: energy (J), time throttled (s), work done (full-speed seconds),
  busy time (s), peak temperature.  The first four are float64 totals fed
  from float32 per-step sums of at most ``_BATCH`` steps of one ``dt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microrack.sim._model import BoardModel
from microrack.sim._params import KINDS

__all__ = ["Twin"]

_F = np.float32  # state and parameters: halves memory traffic
_ACC = np.float64  # accumulators: a month of 1 s steps must not lose increments
_BATCH = 64  # steps summed in float32 before they are added to the float64 totals
_NO_LIMIT = np.float32(1e9)
_NVME_EVERY = 4  # steps per update of the drive's temperature (its tau is ~100x a step)


class Twin:
    """State and parameters of ``n`` simulated nodes, advanced together."""

    def __init__(
        self,
        boards: Sequence[BoardModel],
        *,
        ambient_c: float = 25.0,
        nvme: Sequence[bool] | None = None,
        kind: str = "integer",
    ) -> None:
        n = len(boards)
        self.n = n
        self.boards = list(boards)

        def col(values: Sequence[float]) -> np.ndarray:
            return np.asarray(values, dtype=_F)

        b = self.boards
        self.idle_w = col([m.idle_w for m in b])
        self.dyn_w = col([m.load_w - m.idle_w for m in b])
        self.off_w = col([m.physics.off_w.value for m in b])
        self.carrier_w = col([m.carrier_w for m in b])
        self.r_js = col([m.physics.r_js.value for m in b])
        self.g_js = (1.0 / self.r_js).astype(_F)
        self.inv_c_die = col([1.0 / m.physics.c_die.value for m in b])
        self.inv_c_sink = col([1.0 / m.cooling.c_sink.value for m in b])
        self.g_off = col([1.0 / m.cooling.r_sa.value for m in b])
        self.g_fan = col(
            [
                (1.0 / m.cooling.r_sa_full.value - 1.0 / m.cooling.r_sa.value)
                if m.has_fan and m.cooling.r_sa_full is not None
                else 0.0
                for m in b
            ]
        )
        bands = [m.throttle_band for m in b]
        self.soft_c = col([lo for lo, _ in bands])
        self.inv_band = col([1.0 / max(hi - lo, 0.5) for lo, hi in bands])
        self.min_clock = col([m.physics.min_clock_ratio.value for m in b])
        self.clock_span = (1.0 - self.min_clock).astype(_F)
        lim = [m.physics.soft_limit_c for m in b]
        self.soft_limit_c = col([p.value if p is not None else float(_NO_LIMIT) for p in lim])
        self.soft_limit_drop = col(
            [
                1.0 - m.physics.soft_limit_clock.value
                if m.physics.soft_limit_c is not None and m.physics.soft_limit_clock is not None
                else 0.0
                for m in b
            ]
        )
        self._has_soft_limit = bool((self.soft_limit_drop > 0).any())
        self.fan_w = col([m.physics.fan_w.value if m.has_fan else 0.0 for m in b])
        self.has_fan = col([1.0 if m.has_fan else 0.0 for m in b])
        self.is_pi = np.array([m.is_pi for m in b], dtype=bool)
        has_nvme = [m.has_nvme_slot for m in b] if nvme is None else list(nvme)
        self.has_nvme = col([1.0 if x else 0.0 for x in has_nvme])
        self.nvme_idle_w = col([m.physics.nvme_idle_w.value for m in b]) * self.has_nvme
        self.nvme_act_w = col([m.physics.nvme_active_w.value for m in b]) * self.has_nvme
        self.nvme_r = col([m.physics.nvme_r.value for m in b])
        self.nvme_k = col([m.physics.nvme_coupling.value for m in b])
        self.nvme_inv_tau = col(
            [1.0 / (m.physics.nvme_r.value * m.physics.nvme_heat_capacity.value) for m in b]
        )

        # inputs
        self.util = np.zeros(n, _F)  # demanded CPU utilisation 0..1
        self.io = np.zeros(n, _F)  # the drive's busy share 0..1 (drives NVMe power)
        self.intensity = np.ones(n, _F)  # CPU power share of the kind of work (see set_kind)
        self.ambient = np.full(n, ambient_c, _F)
        self.duty = np.ones(n, _F)  # commanded fan duty 0..1
        self.fan_ok = np.ones(n, _F)  # 0 while the fan is stalled
        self.up = np.ones(n, _F)  # 0 while crashed
        self.under_voltage = np.zeros(n, bool)
        self.max_clock = np.ones(n, _F)  # an imposed clock cap (a throttle fault), 0..1
        # firmware fan curve (used while a node's pwm is in automatic mode)
        self.auto_fan = np.zeros(n, bool)
        self._curves: dict[tuple[tuple[float, float], ...], np.ndarray] = {}
        for i, m in enumerate(b):
            if m.has_fan and m.physics.fan_curve:
                self.use_curve([i], m.physics.fan_curve)

        # state
        self.temp = self.ambient.copy()  # die (the sensor)
        self.sink_temp = self.ambient.copy()
        self.nvme_temp = self.ambient.copy()
        self.clock = np.ones(n, _F)
        self.power = np.zeros(n, _F)  # board + fan + NVMe + carrier share, W
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

        self._dt_key: float | None = None
        self._last_key = b""  # fan duties the sink terms were computed for (bytes)
        self.set_kind(range(n), kind)
        self._buf = [np.empty(n, _F) for _ in range(4)]
        self._flush_buf = np.empty((4, n), _ACC)
        # clock = 1 - (T - soft) * inv_band * span, before clipping
        self._neg_slope = (-self.inv_band * self.clock_span).astype(_F)
        self._die_decay = np.empty(n, _F)
        self._neg_dt_inv_cs = np.empty(n, _F)
        # sink conductance terms, recomputed only when the effective fan duty changes
        self._g_sa = np.empty(n, _F)
        self._w_amb = np.empty(n, _F)  # (1 - d_s) g_sa / (g_js + g_sa)
        self._w_die = np.empty(n, _F)  # (1 - d_s) g_js / (g_js + g_sa)
        self._sink_decay = np.empty(n, _F)
        self._fan_p = np.zeros(n, _F)
        self._extra_p = (self.carrier_w + self._nvme_idle_up).astype(_F)
        self._two_s = (2.0 * self.inv_band * self.clock_span).astype(_F)
        self._neg_slope2 = (-self._two_s).astype(_F)
        self._k0_2 = (2.0 + self.soft_c * self._two_s).astype(_F)
        self._nvme_wait = 0.0
        self._nvme_steps = 0

    # -- inputs that change rarely: recompute the arrays derived from them
    def _derived(self) -> None:
        up = self.up
        self._base_w = np.where(up > 0, self.idle_w, self.off_w).astype(_F)
        self._dyn_up = (self.dyn_w * self.intensity * up).astype(_F)
        self._fan_live = (self.fan_ok * up * self.has_fan).astype(_F)
        self._nvme_idle_up = (self.nvme_idle_w * up).astype(_F)
        self._base_extra = (self._nvme_idle_up + self.carrier_w).astype(_F)
        self._all_up = bool((up > 0).all())
        self._last_key = b""  # _extra_p holds the drives' idle draw: recompute it
        self._nvme_act_up = (self.nvme_act_w * up).astype(_F)
        self._clock_cap = np.minimum(
            np.where(self.under_voltage & self.is_pi, self.min_clock, _F(1.0)), self.max_clock
        ).astype(_F)
        self._rises()

    def _rises(self) -> None:
        """Die rise over one step from idle and from full dynamic power (need dt and inputs)."""
        if self._dt_key is None:
            return
        self._rise_per_w = (self.r_js * self._die_gain).astype(_F)
        self._base_rise = (self._base_w * self._rise_per_w).astype(_F)
        self._dyn_rise_2s = (self._dyn_up * self._rise_per_w * self._two_s).astype(_F)

    def set_kind(self, nodes: Sequence[int] | np.ndarray | range, kind: str) -> None:
        """The kind of work ``nodes`` do (``idle``, ``integer``, ``hpl``, ``mixed``, ``io``)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of work {kind!r}; one of {', '.join(KINDS)}")
        for i in nodes:
            self.intensity[i] = self.boards[i].physics.intensity(kind)
        self._derived()

    def io_share(self, i: int, kind: str) -> float:
        """The drive's busy share at utilisation 1 of ``kind`` on node ``i``."""
        return self.boards[i].physics.io_share(kind)

    def use_curve(
        self, nodes: Sequence[int] | np.ndarray, points: Sequence[tuple[float, float]]
    ) -> None:
        """Drive the fans of ``nodes`` along ``points`` (degC, duty) while ``auto_fan``.

        This is the board firmware's curve (Pi 5) or a fan controller's.
        """
        key = tuple((float(t), float(d)) for t, d in points)
        for mask in self._curves.values():
            mask[nodes] = False
        self._curves.setdefault(key, np.zeros(self.n, bool))[nodes] = True

    def changed(self) -> None:
        """Call after changing ``up``, ``fan_ok``, ``under_voltage``, ``max_clock`` or the kind."""
        self._derived()

    def settle(self) -> None:
        """Jump to the steady state of the present inputs (a warm start)."""
        for _ in range(400):
            self.step(30.0, track=False)

    def _dt_terms(self, dt: float) -> None:
        """Per-node factors that depend only on ``dt``, cached for the last ``dt`` used."""
        if self._dt_key != dt:
            self._die_decay = np.exp(self.g_js * self.inv_c_die * _F(-dt)).astype(_F)
            self._die_gain = (1.0 - self._die_decay).astype(_F)
            self._neg_dt_inv_cs = (self.inv_c_sink * _F(-dt)).astype(_F)
            self._dt_key = dt
            self._last_key = b""  # the sink decay depends on dt too
            self._rises()

    def _sink_terms(self, duty: np.ndarray) -> None:
        """Sink-to-ambient conductance and its weights, for the present fan duty."""
        g, den, w_amb, w_die = self._g_sa, self._sink_decay, self._w_amb, self._w_die
        np.multiply(duty, self.g_fan, out=g)
        g += self.g_off
        np.add(g, self.g_js, out=den)
        np.divide(g, den, out=w_amb)  # g_sa / (g_js + g_sa)
        den *= self._neg_dt_inv_cs
        np.exp(den, out=den)  # the sink's decay over dt
        np.subtract(1.0, den, out=w_die)  # 1 - d_s
        w_amb *= w_die  # (1 - d_s) g_sa / (g_js + g_sa)
        w_die -= w_amb  # (1 - d_s) g_js / (g_js + g_sa)
        fan_p = self._fan_p
        np.multiply(duty, duty, out=fan_p)
        fan_p *= duty
        fan_p *= self.fan_w
        np.add(fan_p, self._base_extra, out=self._extra_p)

    def step(self, dt: float, *, track: bool = True) -> None:
        """Advance every node by ``dt`` seconds.

        Every operation writes into preallocated arrays (no temporaries), the
        factors that depend only on ``dt`` are computed once per ``dt``, and the
        sink's conductance terms only when a fan duty changes.
        """
        t1, t2, t3, _ = self._buf
        self._dt_terms(dt)
        temp = self.temp
        sink = self.sink_temp
        amb = self.ambient
        util = self.util
        # fan (the sink's conductance depends on it)
        for curve, mask in self._curves.items() if self.auto_fan.any() else ():
            sel = mask & self.auto_fan
            if sel.any():
                xs, ys = zip(*curve, strict=True)
                self.duty[sel] = np.interp(temp[sel], xs, ys, left=ys[0], right=ys[-1])
        duty = self.fan_duty
        np.multiply(self.duty, self._fan_live, out=duty)
        key = duty.tobytes()  # one memcmp: cheaper than an elementwise comparison
        if key != self._last_key:
            self._sink_terms(duty)
            self._last_key = key
        # die, at idle power first: a = T_eq0 + (T - T_eq0) d with T_eq0 = T_sink + P_idle r_js
        temp *= self._die_decay
        np.multiply(sink, self._die_gain, out=t1)
        temp += t1
        temp += self._base_rise
        # the throttle law, solved together with the die's end-of-step temperature so
        # the loop is stable at any dt:  c = clip(1 - s (a + b c^2 - soft)),
        # b = u dyn r_js (1 - d):  s b c^2 + c - K = 0,  K = 1 - s (a - soft),
        # c = 2K / (1 + sqrt(1 + 4 s b K))  (kept here as k = 2K)
        k = t2
        np.multiply(temp, self._neg_slope2, out=k)
        k += self._k0_2
        np.multiply(util, self._dyn_rise_2s, out=t1)
        t1 *= k
        t1 += 1.0
        np.maximum(t1, 0.0, out=t1)
        np.sqrt(t1, out=t1)
        t1 += 1.0
        clock = self.clock
        np.divide(k, t1, out=clock)
        np.maximum(clock, self.min_clock, out=clock)  # (np.clip with array bounds
        np.minimum(clock, self._clock_cap, out=clock)  # is several times slower)
        if self._has_soft_limit:  # a firmware soft-limit step (Pi 3B+), from the last state
            np.greater_equal(temp, self.soft_limit_c, out=t1, casting="unsafe")
            t1 *= self.soft_limit_drop
            np.subtract(1.0, t1, out=t1)
            np.minimum(clock, t1, out=clock)
        # board power, and the die's end-of-step temperature with the dynamic part
        bp = self.board_power
        np.multiply(clock, clock, out=t1)
        np.multiply(util, t1, out=bp)
        bp *= self._dyn_up
        np.multiply(bp, self._rise_per_w, out=t1)
        temp += t1
        bp += self._base_w
        # sink: T_s d_s + (1 - d_s) (w_die T_die + w_amb T_amb)
        sink *= self._sink_decay
        np.multiply(temp, self._w_die, out=t1)
        sink += t1
        np.multiply(amb, self._w_amb, out=t1)
        sink += t1
        # power: board + NVMe (idle with the fan and carrier share in _extra_p, active by I/O)
        p = self.power
        np.multiply(self.io, self._nvme_act_up, out=p)
        p += bp
        p += self._extra_p
        # NVMe temperature (tau ~2 min): advanced every _NVME_EVERY steps over their time
        self._nvme_wait += dt
        self._nvme_steps += 1
        if self._nvme_steps >= _NVME_EVERY or not track:
            self._nvme_update(t1, t2, t3)
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
        np.less(clock, 0.999, out=t1, casting="unsafe")
        throttled += t1
        if self._all_up:
            busy += util
            np.multiply(util, clock, out=t1)
        else:
            np.multiply(util, self.up, out=t1)
            busy += t1
            t1 *= clock
        work += t1

    def _nvme_update(self, nvp: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> None:
        """Relax the drives toward their equilibrium over the time since the last update."""
        nv = self.nvme_temp
        amb = self.ambient
        np.multiply(self.io, self._nvme_act_up, out=nvp)  # the drive's own power
        nvp += self._nvme_idle_up
        np.multiply(nvp, self.nvme_r, out=t1)
        np.subtract(self.temp, amb, out=t2)
        t2 *= self.nvme_k
        t1 += t2
        t1 += amb  # drive's equilibrium
        np.multiply(self.nvme_inv_tau, _F(-self._nvme_wait), out=t2)
        np.exp(t2, out=t2)
        nv -= t1
        nv *= t2
        nv += t1
        self._nvme_wait = 0.0
        self._nvme_steps = 0

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
            | ((self.temp >= np.minimum(self.soft_c, self.soft_limit_c)) << 3)
        )
        return now * (self.up > 0)
