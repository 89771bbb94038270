"""Cell parameter sets and the vectorised Thevenin (n-RC) equivalent-circuit evaluation.

Equations (PyBaMM 26.10 ``Thevenin``; ``shared/physics.md`` §1.1), current ``I > 0`` on
discharge, SoC in 0–1, capacity Q in A·h::

    dSoC/dt  = -I / (3600 Q)
    dV_j/dt  = -V_j / (R_j C_j) - I / C_j
    V        = OCV(SoC) - I R0 + Σ V_j
    Q_irr    = I² R0 - Σ I V_j ;   Q_rev = -I T[K] dU/dT(OCV, T)
    C_cell dT_cell/dt = Q_irr + Q_rev - k_cj (T_cell - T_jig)
    C_jig  dT_jig/dt  = k_cj (T_cell - T_jig) - k_ja (T_jig - T_amb)

R0, R_j, C_j are constants, Arrhenius functions of T, or 3-D tables in (T °C, I, SoC);
dU/dT is a constant or a 2-D table in (OCV, T °C). Tables interpolate linearly and
extrapolate linearly, as PyBaMM's interpolants do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from twin._interp import FloatArray, Grid1D, GridND, table_from_columns
from twin.errors import ParameterError, ParameterIssue
from twin.params import deep_merge, did_you_mean, from_dict, param

__all__ = [
    "CELLS_DIR",
    "CellModel",
    "CellParams",
    "Lookup",
    "RcParams",
    "ThermalParams",
    "load_cell",
    "shipped_cells",
]

CELLS_DIR = Path(__file__).resolve().parent.parent / "data" / "cells"
GAS_CONSTANT = 8.314462618  # J/(mol K)
KELVIN = 273.15


@dataclass(frozen=True)
class Lookup:
    """A cell quantity: a constant (optionally Arrhenius in T) or a CSV table."""

    value: float | None = param(None, source="set by the cell set", doc="constant value")
    table: str | None = param(
        None,
        source="set by the cell set",
        doc="CSV table path (3-D: T °C, I A, SoC, value; dU/dT: OCV, T °C, value)",
    )
    arrhenius_ea_j_per_mol: float = param(
        0.0, unit="J/mol", ge=0, source="[S] PyBaMM demo uses 20 kJ/mol", doc="0 = none"
    )
    t_ref_degc: float = param(25.0, unit="°C", source="[K] datasheet reference temperature")

    def __post_init__(self) -> None:
        if (self.value is None) == (self.table is None):
            raise ValueError("give exactly one of 'value' or 'table'")


@dataclass(frozen=True)
class RcParams:
    """One RC pair: R and either C or the time constant τ = R C."""

    r_ohm: Lookup = param(Lookup(value=1e-3), unit="Ω", source="set by the cell set")
    c_f: Lookup | None = param(None, unit="F", source="set by the cell set")
    tau_s: float | None = param(None, unit="s", gt=0, source="set by the cell set")

    def __post_init__(self) -> None:
        if (self.c_f is None) == (self.tau_s is None):
            raise ValueError("give exactly one of 'c_f' or 'tau_s'")


@dataclass(frozen=True)
class ThermalParams:
    """Two-node thermal model: cell and module (PyBaMM's 'jig': cold plate or coolant)."""

    c_cell_j_per_k: float = param(1000.0, unit="J/K", gt=0, source="[S] PyBaMM ECM_Example")
    c_jig_j_per_k: float = param(500.0, unit="J/K", gt=0, source="[S] PyBaMM ECM_Example")
    k_cell_jig_w_per_k: float = param(10.0, unit="W/K", gt=0, source="[S] PyBaMM ECM_Example")
    k_jig_amb_w_per_k: float = param(10.0, unit="W/K", ge=0, source="[S] PyBaMM ECM_Example")


@dataclass(frozen=True)
class CellParams:
    """A named cell parameter set (see ``twin/data/cells/*/cell.json``)."""

    name: str = param("cell", source="user")
    source: str = param("", source="user", doc="where the numbers come from")
    chemistry: str = param("", source="user")
    capacity_ah: float = param(280.0, unit="A*h", gt=0, source="[K] LF280K class")
    v_min_v: float = param(2.5, unit="V", gt=0, source="[K] LFP datasheets")
    v_max_v: float = param(3.65, unit="V", gt=0, source="[K] LFP datasheets")
    v_nom_v: float = param(3.2, unit="V", gt=0, source="[K] LFP datasheets")
    ocv_table: str = param("", source="set by the cell set", doc="CSV: SoC, OCV [V]")
    r0_ohm: Lookup = param(Lookup(value=2.5e-4), unit="Ω", source="[K] physics.md §1.2")
    rc: tuple[RcParams, ...] = param((), source="set by the cell set")
    dudt_v_per_k: Lookup = param(Lookup(value=0.0), unit="V/K", source="[K] LFP: set 0")
    thermal: ThermalParams = param(ThermalParams(), source="see ThermalParams")
    i_max_charge_a: float = param(280.0, unit="A", gt=0, source="[K] 1C continuous")
    i_max_discharge_a: float = param(280.0, unit="A", gt=0, source="[K] 1C continuous")
    t_charge_min_degc: float = param(0.0, unit="°C", source="[K] no charging below 0 °C")
    t_charge_max_degc: float = param(55.0, unit="°C", source="[K] LFP datasheets")
    t_discharge_min_degc: float = param(-20.0, unit="°C", source="[K] LFP datasheets")
    t_discharge_max_degc: float = param(60.0, unit="°C", source="[K] LFP datasheets")
    discharge_derate_t_degc: tuple[float, ...] = param(
        (),
        unit="°C",
        source="set by the cell set",
        doc="temperatures of the max continuous discharge C-rate table (increasing); () = no table",
    )
    discharge_derate_c_rate: tuple[float, ...] = param(
        (),
        unit="1/h",
        ge=0,
        source="set by the cell set",
        doc="max continuous discharge C-rate at each temperature; linear between, held beyond the ends",
    )
    base_dir: str = field(default="", metadata={"source": "where tables are resolved"})

    def __post_init__(self) -> None:
        if not self.v_min_v < self.v_nom_v < self.v_max_v:
            raise ValueError("need v_min_v < v_nom_v < v_max_v")
        if not self.ocv_table:
            raise ValueError("ocv_table is required (a CSV of SoC, OCV)")
        t, c = self.discharge_derate_t_degc, self.discharge_derate_c_rate
        if len(t) != len(c):
            raise ValueError(
                f"discharge_derate_t_degc has {len(t)} values but discharge_derate_c_rate has {len(c)}"
            )
        if len(t) == 1 or any(b <= a for a, b in pairwise(t)):
            raise ValueError("discharge_derate_t_degc needs two or more strictly increasing temperatures")

    def discharge_limit_table_a(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The discharge derate as (T °C, max continuous current A per cell), or None when the
        set has no table: the C-rates times the nominal capacity (datasheet C-rates refer to it)."""
        if not self.discharge_derate_t_degc:
            return None
        return self.discharge_derate_t_degc, tuple(c * self.capacity_ah for c in self.discharge_derate_c_rate)


def shipped_cells() -> list[str]:
    """Names of the cell parameter sets shipped with the twin."""
    return sorted(p.parent.name for p in CELLS_DIR.glob("*/cell.json"))


def _resolve(spec: str | Mapping[str, Any], base_dir: Path | None) -> tuple[dict[str, Any], Path]:
    if isinstance(spec, str):
        path = CELLS_DIR / spec / "cell.json"
        if not path.is_file():
            tail = did_you_mean(spec, shipped_cells())
            raise ParameterError(
                [
                    ParameterIssue(
                        ("cell",),
                        f"no shipped cell set named {spec!r}{tail} (shipped: {', '.join(shipped_cells())})",
                    )
                ]
            )
        data = json.loads(path.read_text())
        base_dir = path.parent
    else:
        data = dict(spec)
        base_dir = base_dir or Path.cwd()
    if "base" in data:
        parent, parent_dir = _resolve(str(data.pop("base")), None)
        # tables of the parent resolve against the parent's folder
        parent = _absolutise(parent, parent_dir)
        data = deep_merge(parent, data)
    return data, base_dir


def _absolutise(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (str((base_dir / v).resolve()) if k in ("table", "ocv_table") else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(data)
    return out


def load_cell(spec: str | Mapping[str, Any], *, base_dir: Path | None = None) -> CellParams:
    """A validated :class:`CellParams` from a shipped name or a dict.

    A dict may say ``base: <shipped name>`` to start from a shipped set and override keys
    (``rc`` replaces the whole list). Table paths resolve against ``base_dir`` (the YAML
    file's folder when ``hil`` loads one), shipped tables against their own folder.
    """
    data, resolved_dir = _resolve(spec, base_dir)
    data = _absolutise(data, resolved_dir)
    data.pop("base_dir", None)
    cell = from_dict(CellParams, data, path=("cell",))
    issues = [
        ParameterIssue(("cell", *where), f"table file not found: {p}")
        for where, p in _table_paths(cell)
        if not Path(p).is_file()
    ]
    if issues:
        raise ParameterError(issues)
    return cell


def _table_paths(cell: CellParams) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = [(("ocv_table",), cell.ocv_table)]
    lookups: list[tuple[tuple[str | int, ...], Lookup | None]] = [
        (("r0_ohm",), cell.r0_ohm),
        (("dudt_v_per_k",), cell.dudt_v_per_k),
    ]
    for j, rc in enumerate(cell.rc):
        lookups += [(("rc", j, "r_ohm"), rc.r_ohm), (("rc", j, "c_f"), rc.c_f)]
    out += [((*w, "table"), lk.table) for w, lk in lookups if lk is not None and lk.table]
    return out


def _read_csv(path: str) -> FloatArray:
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c for c in line.split(",") if c.strip() != ""]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            continue  # a header line
    width = min(len(r) for r in rows)
    return np.array([r[:width] for r in rows], dtype=float)


def _monotone_inverse(soc: FloatArray, ocv: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(OCV, SoC) nodes of the inverse of the monotone envelope of an OCV(SoC) table."""
    envelope = 0.5 * (np.maximum.accumulate(ocv) + np.minimum.accumulate(ocv[::-1])[::-1])
    values, index = np.unique(envelope, return_inverse=True)
    mid_soc = np.bincount(index, weights=soc) / np.bincount(index)
    return values, mid_soc


class CellModel:
    """Evaluates a :class:`CellParams` set on arrays: OCV, R0, R_j, C_j, dU/dT.

    Tables sharing the (T, I, SoC) grid are stacked and looked up in one call.
    """

    def __init__(self, params: CellParams) -> None:
        self.params = params
        ocv = _read_csv(params.ocv_table)
        self.ocv_grid = Grid1D(ocv[:, 0], ocv[:, 1])
        self._ocv_inverse = _monotone_inverse(self.ocv_grid.x, self.ocv_grid.y)
        self.n_rc = len(params.rc)
        self.capacity_ah = params.capacity_ah
        th = params.thermal
        self.thermal = th
        # Gather every (T, I, SoC) quantity: index 0 = R0, 1..n = R_j, n+1..2n = C_j.
        quantities: list[Lookup | float] = [params.r0_ohm]
        quantities += [rc.r_ohm for rc in params.rc]
        self._tau = [rc.tau_s for rc in params.rc]
        quantities += [rc.c_f if rc.c_f is not None else math.nan for rc in params.rc]
        self._const = np.zeros(len(quantities))
        self._ea = np.zeros(len(quantities))
        self._tref_k = np.full(len(quantities), 25.0 + KELVIN)
        table_idx: list[int] = []
        tables: list[tuple[tuple[FloatArray, ...], FloatArray]] = []
        for k, q in enumerate(quantities):
            if not isinstance(q, Lookup):
                continue
            if q.table is not None:
                axes, values = table_from_columns(_read_csv(q.table), 3)
                table_idx.append(k)
                tables.append((axes, values[..., 0]))
            else:
                assert q.value is not None
                self._const[k] = q.value
                self._ea[k] = q.arrhenius_ea_j_per_mol
                self._tref_k[k] = q.t_ref_degc + KELVIN
        self._table_idx = np.array(table_idx, dtype=np.intp)
        self._grids: list[tuple[list[int], GridND]] = []
        # stack tables that share axes
        groups: list[tuple[tuple[FloatArray, ...], list[int], list[FloatArray]]] = []
        for k, (axes, values) in zip(table_idx, tables, strict=True):
            for g_axes, g_idx, g_vals in groups:
                if all(
                    a.shape == b.shape and np.array_equal(a, b) for a, b in zip(axes, g_axes, strict=True)
                ):
                    g_idx.append(k)
                    g_vals.append(values)
                    break
            else:
                groups.append((axes, [k], [values]))
        for axes, idx, vals in groups:
            self._grids.append((idx, GridND(axes, np.stack(vals, axis=-1))))
        self._has_arrhenius = bool(np.any(self._ea > 0))
        dudt = params.dudt_v_per_k
        self._dudt_const = dudt.value if dudt.table is None else None
        self._dudt_grid: GridND | None = None
        if dudt.table is not None:
            axes, values = table_from_columns(_read_csv(dudt.table), 2)
            self._dudt_grid = GridND(axes, values)

    # -- lookups -----------------------------------------------------------------------
    def ocv(self, soc: FloatArray) -> FloatArray:
        return self.ocv_grid(soc)

    def docv_dsoc(self, soc: FloatArray) -> FloatArray:
        return self.ocv_grid.derivative(soc)

    def soc_from_ocv(self, ocv_v: FloatArray) -> FloatArray:
        """The SoC whose OCV is ``ocv_v`` (the inverse of :meth:`ocv`), clamped to the table.

        A measured OCV table is not strictly monotone (the shipped LFP curve has 739 small
        dips on its plateau), so it is inverted through its monotone envelope: the mean of the
        running maximum from the left and the running minimum from the right. That equals the
        table wherever the table is increasing, and flats map to their mid-point SoC."""
        x, y = self._ocv_inverse
        return np.asarray(np.interp(ocv_v, x, y))

    def rc_values(
        self, t_degc: FloatArray, current_a: FloatArray, soc: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """R0 (shape of inputs), R_j and C_j (shape ``(n_rc, *shape)``)."""
        shape = np.broadcast_shapes(np.shape(t_degc), np.shape(current_a), np.shape(soc))
        n = len(self._const)
        vals = np.broadcast_to(self._const.reshape((n,) + (1,) * len(shape)), (n, *shape)).copy()
        if self._has_arrhenius:
            t_k = np.asarray(t_degc) + KELVIN
            for k in np.nonzero(self._ea > 0)[0]:
                vals[k] *= np.exp(self._ea[k] / GAS_CONSTANT * (1.0 / t_k - 1.0 / self._tref_k[k]))
        for idx, grid in self._grids:
            out = grid(t_degc, current_a, soc)
            for col, kk in enumerate(idx):
                vals[kk] = out[..., col]
        r0 = vals[0]
        r = vals[1 : 1 + self.n_rc]
        c = vals[1 + self.n_rc :]
        for j, tau in enumerate(self._tau):
            if tau is not None:
                c[j] = tau / r[j]
        return r0, r, c

    def dudt(self, ocv: FloatArray, t_degc: FloatArray) -> FloatArray:
        if self._dudt_grid is None:
            return np.full(np.broadcast_shapes(np.shape(ocv), np.shape(t_degc)), self._dudt_const)
        return self._dudt_grid(ocv, t_degc)[..., 0]

    # -- exact step under a held current ---------------------------------------------
    def thermal_step_matrices(self, dt: float) -> tuple[FloatArray, FloatArray]:
        """Φ, Γ with ``[Tc, Tj](t+dt) = Φ [Tc, Tj] + Γ [Q, T_amb]`` for held Q and T_amb."""
        from scipy.linalg import expm

        th = self.thermal
        a = np.array(
            [
                [
                    -th.k_cell_jig_w_per_k / th.c_cell_j_per_k,
                    th.k_cell_jig_w_per_k / th.c_cell_j_per_k,
                ],
                [
                    th.k_cell_jig_w_per_k / th.c_jig_j_per_k,
                    -(th.k_cell_jig_w_per_k + th.k_jig_amb_w_per_k) / th.c_jig_j_per_k,
                ],
            ]
        )
        b = np.array([[1.0 / th.c_cell_j_per_k, 0.0], [0.0, th.k_jig_amb_w_per_k / th.c_jig_j_per_k]])
        m = np.zeros((4, 4))
        m[:2, :2] = a
        m[:2, 2:] = b
        e = expm(m * dt)
        return e[:2, :2], e[:2, 2:]
