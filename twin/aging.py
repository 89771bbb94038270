"""Semi-empirical capacity-fade and resistance-rise models for LFP/graphite cells.

Two models, both selectable in :class:`AgingModel` (``docs/models/aging.md`` has the full
equations, parameter sources and the conventions chosen here):

``"naumann"``
    Naumann et al. (TUM) for the Sony/Murata US26650 LFP cell: calendar aging,
    J. Energy Storage 17 (2018) 153, doi:10.1016/j.est.2018.01.019; cycle aging,
    J. Power Sources 451 (2020) 227666, doi:10.1016/j.jpowsour.2019.227666. Equations as
    implemented in SimSES 1.3.12 (``SonyLFPCalendarDegradationModel`` and
    ``SonyLFPCyclicDegradationModel``), coefficient rows from SimSES'
    ``CLFP_Sony_US26650_capacity_decrease_param.csv`` and
    ``..._resistance_increase_param.csv``: SimSES 1.3.12, BSD-3-Clause,
    © 2023 Chair of Electrical Energy Storage Technology, Technical University of Munich
    (licence text: ``LICENSES/BSD-3-Clause-SimSES.txt``).
    The calendar resistance SoC term is squared, ``(SoC − 0.5)²``, as in SimSES.

``"blast_lfp250"``
    NREL BLAST-Lite ``Lfp_Gr_250AhPrismatic`` (``blast/models/lfp_gr_250AhPrismatic_2019.py``
    and the graphite potential ``BatteryDegradationModel._get_Ua``), repository
    NatLabRockies/BLAST-Lite (formerly NREL/BLAST-Lite), Apache-2.0 per its package metadata,
    authors Paul Gasper, Nina Prakash, Kandler Smith. Data: Gasper et al., J. Energy Storage
    (2023) 109042, doi:10.1016/j.est.2023.109042. The graphite potential is from Safari and
    Delacourt, J. Electrochem. Soc. 158 (2011) A562, doi:10.1149/1.3567007. The equations
    are re-implemented here (the package is not a dependency). BLAST-Lite has no resistance
    model for this cell, so the tracker reports ``r_factor == 1``.

Results are fractions: capacity lost as a fraction of nominal capacity (0–1) and resistance
increase as a fraction of the initial resistance. A year is 365 days (:data:`YEAR_S`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from twin._interp import FloatArray
from twin.aging_laws import (
    DAY_S,
    GAS_CONSTANT_SIMSES,
    MODELS,
    NAUMANN_ROWS,
    YEAR_S,
    BlastParams,
    NaumannParams,
    _advance_power_law,
    _blast_cal_rate,
    _blast_cyc_rate,
    _naumann_cal_q_rate,
    _naumann_cal_r_rate,
    _naumann_cyc_q_rate,
    _naumann_cyc_r_rate,
    blast_lfp250_calendar_capacity_loss,
    blast_lfp250_cycle_capacity_loss,
    graphite_potential_v,
    naumann_calendar_capacity_loss,
    naumann_calendar_resistance_increase,
    naumann_cycle_capacity_loss,
    naumann_cycle_resistance_increase,
    naumann_row,
)
from twin.errors import ParameterError, ParameterIssue
from twin.params import did_you_mean

__all__ = [
    "DAY_S",
    "GAS_CONSTANT_SIMSES",
    "MODELS",
    "NAUMANN_ROWS",
    "YEAR_S",
    "AgingModel",
    "BlastParams",
    "NaumannParams",
    "blast_lfp250_calendar_capacity_loss",
    "blast_lfp250_cycle_capacity_loss",
    "graphite_potential_v",
    "naumann_calendar_capacity_loss",
    "naumann_calendar_resistance_increase",
    "naumann_cycle_capacity_loss",
    "naumann_cycle_resistance_increase",
    "naumann_row",
]


# ------------------------------------------------------------------------ tracker


Stress = FloatArray | float
"""A per-unit stressor fed to :meth:`AgingModel.accumulate` (or one value for every unit)."""


class AgingModel:
    """Capacity fade and resistance rise of ``n`` units (cells or cabinets) fed per tick.

    :meth:`accumulate` is called every simulation tick with cheap stressors; it only adds
    into window sums (and tracks SoC reversals). Every ``window_s`` of accumulated simulated
    time the window is applied:

    * calendar aging with the time-averaged SoC and temperature of the window, advancing
      the calendar state by "virtual time" (invert the current loss to the time it would
      take under this window's stressors, then advance by the window length);
    * cycle aging of the half-cycles completed so far ("virtual FEC"), with the
      throughput-weighted depth, C-rate and temperature of those half-cycles.

    Half-cycles are counted without rainflow: a half-cycle ends when the SoC reverses by
    more than ``doc_hysteresis`` from its extreme; its depth of cycle (DOC) is the SoC swing
    from its start to that extreme. A half-cycle still running at a window boundary is
    booked at its current depth (keeping its start, so it may deepen later) only if the
    unit moved less than ``doc_hysteresis`` in that window (rest), if it has run for
    ``max_half_cycle_s`` since it started or was last booked (BLAST-Lite likewise
    books at least daily), or on :meth:`flush`. So a long discharge is not split into
    shallow pieces, and ripple around a steady SoC is still booked.

    The C-rate passed in is taken as absolute and relative to *nominal* capacity, so FEC
    counts nominal-capacity throughput (BLAST-Lite's convention). The state arrays
    (``q_loss_cal``, ``q_loss_cyc``, ``r_inc_cal``, ``r_inc_cyc``) may be set to start from
    an aged state.
    """

    def __init__(
        self,
        n: int,
        *,
        model: str = "naumann",
        window_s: float = 3600.0,
        params: NaumannParams | BlastParams | None = None,
        doc_hysteresis: float = 0.005,
        max_half_cycle_s: float = 86400.0,
        kernel: str = "numpy",
    ) -> None:
        """``kernel="compiled"`` feeds the ticks through :func:`twin.aging_kernel.feed` (the
        same results to the bit, ≈ 10× less time per tick)."""
        issues: list[ParameterIssue] = []
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            issues.append(ParameterIssue(("n",), f"expected a whole number >= 1, got {n!r}"))
        if model not in MODELS:
            tail = did_you_mean(str(model), MODELS)
            issues.append(ParameterIssue(("model",), f"{model!r} is not one of {', '.join(MODELS)}{tail}"))
        if not window_s > 0.0:
            issues.append(ParameterIssue(("window_s",), f"must be > 0 s, got {window_s} s"))
        if not 0.0 <= doc_hysteresis < 1.0:
            issues.append(ParameterIssue(("doc_hysteresis",), f"must be in [0, 1), got {doc_hysteresis}"))
        if not max_half_cycle_s > 0.0:
            issues.append(ParameterIssue(("max_half_cycle_s",), f"must be > 0 s, got {max_half_cycle_s} s"))
        expected = NaumannParams if model == "naumann" else BlastParams
        if params is not None and model in MODELS and not isinstance(params, expected):
            issues.append(
                ParameterIssue(
                    ("params",),
                    f"model {model!r} needs {expected.__name__}, got {type(params).__name__}",
                )
            )
        if issues:
            raise ParameterError(issues)

        self.n = int(n)
        self.kernel = kernel
        self.model = model
        self.window_s = float(window_s)
        self.doc_hysteresis = float(doc_hysteresis)
        self.max_half_cycle_s = float(max_half_cycle_s)
        self.params: NaumannParams | BlastParams = params if params is not None else expected()

        z = np.zeros
        # aging state (fractions)
        self.q_loss_cal: FloatArray = z(n)
        self.q_loss_cyc: FloatArray = z(n)
        self.r_inc_cal: FloatArray = z(n)
        self.r_inc_cyc: FloatArray = z(n)
        self._t_booked_s = 0.0
        self.windows_applied = 0
        """How many times the aging state was updated (a window closed or a flush): its
        outputs (``soh_pct``, ``r_factor``) change only when this count does."""
        self._fec_booked: FloatArray = z(n)
        # calendar window sums
        self._w_t_s = 0.0
        self._w_soc: FloatArray = z(n)  # Σ SoC·dt
        self._w_temp: FloatArray = z(n)  # Σ T·dt
        # running half-cycle: sums of c·dt [C·s], c²·dt, T·c·dt; start SoC, extreme, direction
        self._h_q: FloatArray = z(n)
        self._h_qc: FloatArray = z(n)
        self._h_qt: FloatArray = z(n)
        self._fec_at_flush: FloatArray = z(n)
        self._h_since_s: FloatArray = z(n)  # elapsed time when last started or booked
        self._anchor: FloatArray = z(n)
        self._extreme: FloatArray = z(n)
        self._dir: FloatArray = z(n)  # +1 charging, -1 discharging, 0 not yet known
        self._undirected = True
        self._started = False
        # completed half-cycles awaiting the window update: Σ c·dt, Σ c·dt·DOC, Σ c²·dt, Σ T·c·dt
        self._c_q: FloatArray = z(n)
        self._c_qd: FloatArray = z(n)
        self._c_qc: FloatArray = z(n)
        self._c_qt: FloatArray = z(n)

    # ---------------------------------------------------------------- outputs

    @property
    def q_loss(self) -> FloatArray:
        """Total capacity lost, fraction of nominal (calendar + cycle)."""
        return self.q_loss_cal + self.q_loss_cyc

    @property
    def soh_pct(self) -> FloatArray:
        """State of health: 100·(1 − q_loss_cal − q_loss_cyc)."""
        return 100.0 * (1.0 - self.q_loss_cal - self.q_loss_cyc)

    @property
    def r_factor(self) -> FloatArray:
        """Resistance multiplier 1 + calendar + cycle increase (1.0 for ``blast_lfp250``,
        which has no resistance model)."""
        return 1.0 + self.r_inc_cal + self.r_inc_cyc

    @property
    def fec(self) -> FloatArray:
        """Full equivalent cycles so far (Σ|ΔSoC|/2 in nominal capacity), booked or not."""
        return self._fec_booked + (self._c_q + self._h_q) / 7200.0

    @property
    def elapsed_s(self) -> float:
        """Simulated time fed so far, including the window not yet applied."""
        return self._t_booked_s + self._w_t_s

    # ------------------------------------------------------------------ input

    def accumulate(
        self,
        dt_s: float,
        soc: FloatArray | float,
        t_cell_k: FloatArray | float,
        current_c_rate: FloatArray | float,
    ) -> None:
        """Feed one tick: SoC (0–1) and cell temperature [K] at the end of the tick and the
        C-rate (|I|/Q_nominal, 1/h; the sign is ignored) during it. Arrays of length ``n``
        (or scalars). ``|ΔSoC| = c·dt/3600`` is taken from the C-rate, not from SoC."""
        if dt_s <= 0.0:
            if dt_s == 0.0:
                return
            raise ValueError(f"dt_s must be >= 0, got {dt_s}")
        if not self._started:
            self._start(soc)
        if self.kernel == "compiled":
            self._feed_compiled(dt_s, soc, t_cell_k, current_c_rate)
        else:
            self._feed(dt_s, soc, t_cell_k, current_c_rate)
        if self._w_t_s >= self.window_s * (1.0 - 1e-12):
            self._apply_window(force=False)

    def _feed(self, dt_s: float, soc: Stress, t_cell_k: Stress, current_c_rate: Stress) -> None:
        c = np.abs(current_c_rate)
        cdt = c * dt_s
        self._w_t_s += dt_s
        self._w_soc += soc * dt_s
        self._w_temp += t_cell_k * dt_s
        self._h_q += cdt
        self._h_qc += cdt * c
        self._h_qt += cdt * t_cell_k

        # half-cycle tracking with hysteresis
        move = (soc - self._extreme) * self._dir
        np.copyto(self._extreme, soc, where=move > 0.0)
        if self._undirected:
            self._set_directions(soc)
        reversed_ = move < -self.doc_hysteresis
        if reversed_.any():
            self._close_half_cycles(reversed_, soc)

    def _feed_compiled(self, dt_s: float, soc: Stress, t_cell_k: Stress, current_c_rate: Stress) -> None:
        from twin.aging_kernel import feed

        def vec(x: Stress) -> FloatArray:
            a = np.asarray(x, dtype=np.float64)  # an array of float64 is returned as it is
            if a.shape == (self.n,) and a.flags.c_contiguous:
                return a  # the usual case: the feed only reads it
            return np.ascontiguousarray(np.broadcast_to(a, (self.n,)))

        clock = np.array([self._t_booked_s, self._w_t_s])
        undirected = np.array([self._undirected])
        feed(
            float(dt_s), vec(soc), vec(t_cell_k), vec(current_c_rate), self.doc_hysteresis, clock, undirected,
            *self.feed_state(),
        )  # fmt: skip
        self._w_t_s = float(clock[1])
        self._undirected = bool(undirected[0])

    def feed_state(self) -> tuple[FloatArray, ...]:
        """The arrays :func:`twin.aging_kernel.feed` updates in place, in its order."""
        return (
            self._w_soc, self._w_temp, self._h_q, self._h_qc, self._h_qt, self._h_since_s, self._anchor,
            self._extreme, self._dir, self._c_q, self._c_qd, self._c_qc, self._c_qt,
        )  # fmt: skip

    def flush(self) -> None:
        """Apply the pending window now, including the running half-cycle at its current
        depth (its start point is kept, so its later part is booked at the deeper depth)."""
        self._apply_window(force=True)

    # -------------------------------------------------------------- internals

    def _start(self, soc: FloatArray | float) -> None:
        s = np.broadcast_to(np.asarray(soc, dtype=np.float64), (self.n,))
        self._anchor[:] = s
        self._extreme[:] = s
        self._started = True

    def _set_directions(self, soc: FloatArray | float) -> None:
        undirected = self._dir == 0.0
        delta = soc - self._anchor
        start = undirected & (np.abs(delta) > self.doc_hysteresis)
        if start.any():
            np.copyto(self._dir, np.sign(delta), where=start)
            np.copyto(self._extreme, np.broadcast_to(soc, (self.n,)), where=start)
        if not (self._dir == 0.0).any():
            self._undirected = False

    def _book_running(self, mask: NDArray[np.bool_]) -> None:
        """Move the running half-cycle sums of ``mask`` units to the completed sums."""
        self._h_since_s[mask] = self.elapsed_s
        depth = np.abs(self._extreme - self._anchor)
        m = mask.astype(np.float64)
        self._c_q += m * self._h_q
        self._c_qd += m * self._h_q * depth
        self._c_qc += m * self._h_qc
        self._c_qt += m * self._h_qt
        keep = 1.0 - m
        self._h_q *= keep
        self._h_qc *= keep
        self._h_qt *= keep

    def _close_half_cycles(self, mask: NDArray[np.bool_], soc: FloatArray | float) -> None:
        self._book_running(mask)
        np.copyto(self._anchor, self._extreme, where=mask)
        np.copyto(self._dir, -self._dir, where=mask)
        np.copyto(self._extreme, np.broadcast_to(soc, (self.n,)), where=mask)

    def _apply_window(self, *, force: bool) -> None:
        self.windows_applied += 1
        dt = self._w_t_s
        if dt > 0.0:
            soc = self._w_soc / dt
            temp = self._w_temp / dt
            if isinstance(self.params, NaumannParams):
                k_q = _naumann_cal_q_rate(soc, temp, self.params)
                _advance_power_law(self.q_loss_cal, k_q, dt, 0.5)
                self.r_inc_cal += _naumann_cal_r_rate(soc, temp, self.params) * dt
            else:
                k_q = _blast_cal_rate(soc, temp, self.params)
                _advance_power_law(self.q_loss_cal, k_q, dt / DAY_S, self.params.pcal)
            self._t_booked_s += dt
        self._w_t_s = 0.0
        self._w_soc[:] = 0.0
        self._w_temp[:] = 0.0

        running = self._h_q > 0.0
        if not force:  # book it as it stands if it rested through the window or is old
            rested = 2.0 * (self.fec - self._fec_at_flush) <= self.doc_hysteresis
            old = self.elapsed_s - self._h_since_s >= self.max_half_cycle_s * (1.0 - 1e-12)
            running &= rested | old
        self._book_running(running)
        self._fec_at_flush = self.fec

        done = self._c_q > 0.0
        if done.any():
            q = np.where(done, self._c_q, 1.0)
            doc = self._c_qd / q
            c_rate = self._c_qc / q
            # units with no half-cycle done get a neutral temperature: masked below (d_fec = 0),
            # but 0 K made the BLAST law's exp(p7/T) print a divide-by-zero warning
            temp_c = np.where(done, self._c_qt / q, 298.15)
            d_fec = np.where(done, self._c_q / 7200.0, 0.0)
            if isinstance(self.params, NaumannParams):
                k_q = _naumann_cyc_q_rate(doc, c_rate, self.params)
                _advance_power_law(self.q_loss_cyc, k_q, d_fec, 0.5)
                # resistance rise is linear in FEC; negative rates (C > ~1.05) are clipped
                k_r = _naumann_cyc_r_rate(doc, c_rate, self.params)
                self.r_inc_cyc += np.maximum(k_r, 0.0) * d_fec
            else:
                k_q = _blast_cyc_rate(doc, c_rate, temp_c, self.params)
                _advance_power_law(self.q_loss_cyc, k_q, d_fec, self.params.pcyc)
            self._fec_booked += d_fec
            for a in (self._c_q, self._c_qd, self._c_qc, self._c_qt):
                a[:] = 0.0
