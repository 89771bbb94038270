"""The aging laws: parameter sets, stress-factor rates and closed forms (Naumann, BLAST-Lite).

Part of :mod:`twin.aging` (see its docstring for the models, sources and conventions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from twin._interp import FloatArray
from twin.errors import ParameterError, ParameterIssue
from twin.params import did_you_mean, param

__all__ = [
    "DAY_S",
    "GAS_CONSTANT_SIMSES",
    "MODELS",
    "NAUMANN_ROWS",
    "YEAR_S",
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

DAY_S: Final = 86400.0
"""Seconds per day."""
YEAR_S: Final = 365.0 * DAY_S
"""Seconds per year: 365 days, the convention of BLAST-Lite and of physics.md §6."""
GAS_CONSTANT_SIMSES: Final = 8.3144598
"""J/(mol K), the value SimSES uses in the Naumann Arrhenius terms (kept for fidelity)."""
MODELS: Final = ("naumann", "blast_lfp250")

_SIMSES = "[S] SimSES 1.3.12 CLFP_Sony_US26650"
_BLAST = "[S] BLAST-Lite Lfp_Gr_250AhPrismatic._params_life"


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class NaumannParams:
    """Naumann LFP (Sony/Murata US26650) aging coefficients, SimSES row "Naumann".

    Calendar terms act on time in seconds; cycle terms give *percent* per the papers (the
    functions divide by 100). Other rows (Refit, Bootstrap 1–3): :func:`naumann_row`.
    """

    cal_q_k_ref: float = param(
        1.2571e-5,
        unit="s^-0.5",
        gt=0,
        source=f"{_SIMSES}_capacity_decrease_param.csv, row Naumann, k_ref",
        doc="calendar capacity-loss rate at T_ref",
    )
    cal_q_ea_j_per_mol: float = param(
        17126.0, unit="J/mol", ge=0, source=f"{_SIMSES}_capacity_decrease_param.csv, Ea"
    )
    cal_q_c: float = param(
        2.8575, source=f"{_SIMSES}_capacity_decrease_param.csv, C_cal", doc="(SoC-0.5)^3 coef."
    )
    cal_q_d: float = param(0.60225, source=f"{_SIMSES}_capacity_decrease_param.csv, D_cal")
    cyc_q_a: float = param(
        0.0630,
        unit="% h FEC^-0.5",
        source=f"{_SIMSES}_capacity_decrease_param.csv, A_cyc",
        doc="C-rate slope",
    )
    cyc_q_b: float = param(0.0971, unit="% FEC^-0.5", source=f"{_SIMSES}_capacity_decrease_param.csv, B_cyc")
    cyc_q_c: float = param(
        4.0253, source=f"{_SIMSES}_capacity_decrease_param.csv, C_cyc", doc="(DOC-0.6)^3 coef."
    )
    cyc_q_d: float = param(1.0923, source=f"{_SIMSES}_capacity_decrease_param.csv, D_cyc")
    cal_r_k_ref: float = param(
        3.4194e-10,
        unit="s^-1",
        gt=0,
        source=f"{_SIMSES}_resistance_increase_param.csv, row Naumann, k_ref",
        doc="calendar resistance-rise rate at T_ref",
    )
    cal_r_ea_j_per_mol: float = param(
        71827.0, unit="J/mol", ge=0, source=f"{_SIMSES}_resistance_increase_param.csv, Ea"
    )
    cal_r_c: float = param(
        -3.3903,
        source=f"{_SIMSES}_resistance_increase_param.csv, C_cal",
        doc="(SoC-0.5)^2 coef. (SimSES squares this term)",
    )
    cal_r_d: float = param(1.5604, source=f"{_SIMSES}_resistance_increase_param.csv, D_cal")
    cyc_r_a: float = param(
        -0.0020, unit="% h FEC^-1", source=f"{_SIMSES}_resistance_increase_param.csv, A_cyc"
    )
    cyc_r_b: float = param(0.0021, unit="% FEC^-1", source=f"{_SIMSES}_resistance_increase_param.csv, B_cyc")
    cyc_r_c: float = param(
        6.8477, source=f"{_SIMSES}_resistance_increase_param.csv, C_cyc", doc="(DOC-0.5)^3"
    )
    cyc_r_d: float = param(
        0.9182,
        source=f"{_SIMSES}_resistance_increase_param.csv, D_cyc (SimSES code comment: 0.91882)",
    )
    t_ref_k: float = param(298.15, unit="K", gt=0, source="[S] SimSES TEMP_REF")


@dataclass(frozen=True)
class BlastParams:
    """BLAST-Lite ``Lfp_Gr_250AhPrismatic`` capacity-fade coefficients (names as BLAST's)."""

    p1: float = param(8.37e4, unit="day^-pcal", source=_BLAST, doc="calendar prefactor")
    p2_k: float = param(-5.21e3, unit="K", source=_BLAST, doc="calendar exp(p2/T)")
    p3_k_per_v: float = param(-3.56e3, unit="K/V", source=_BLAST, doc="calendar exp(p3 Ua/T)")
    pcal: float = param(0.526, gt=0, le=1, source=_BLAST, doc="calendar time exponent")
    p4: float = param(4.38e-8, unit="EFC^-pcyc", source=_BLAST, doc="cycle constant term")
    p5: float = param(1.55e-8, unit="EFC^-pcyc", source=_BLAST, doc="cycle DOD term")
    p6_h: float = param(1.68e-7, unit="h EFC^-pcyc", source=_BLAST, doc="cycle C-rate term")
    p7_k: float = param(2.19e3, unit="K", source=_BLAST, doc="cycle exp(p7/T)")
    p8_k: float = param(1.55e5, unit="K", source=_BLAST, doc="cycle exp(-p8/T)")
    pcyc: float = param(0.828, gt=0, le=1, source=_BLAST, doc="cycle EFC exponent")
    xa_soc0: float = param(
        8.5e-3,
        ge=0,
        le=1,
        source="[S] BLAST-Lite _get_Ua (Schimpe et al., doi:10.1149/2.1181714jes)",
        doc="graphite lithiation fraction at SoC 0",
    )
    xa_soc1: float = param(
        0.78, ge=0, le=1, source="[S] BLAST-Lite _get_Ua", doc="lithiation fraction at SoC 1"
    )
    degradation_scalar: float = param(
        1.0,
        gt=0,
        source="[S] BLAST-Lite degradation_scalar (here it scales k_cal and k_cyc)",
        doc="multiplies both rate coefficients; 1 = nominal",
    )


# SimSES 1.3.12 CLFP_Sony_US26650_capacity_decrease_param.csv and
# CLFP_Sony_US26650_resistance_increase_param.csv (BSD-3-Clause, © 2023 Chair of Electrical
# Energy Storage Technology, TUM), split into their calendar and cycle columns. Values as in
# the files, without their float-printing artefacts (e.g. 0.5884745720000001 -> 0.588474572).
_ROWS_TEXT: Final = """\
row          cal_q_k_ref  cal_q_ea     cal_q_c      cal_q_d
Naumann      1.2571e-05   17126.0      2.8575       0.60225
Refit        1.07e-05     26700.62673  2.390519546  0.588474572
Bootstrap_1  9.94e-06     36155.47006  2.649097238  0.545396138
Bootstrap_2  1.1e-05      24785.38503  2.319184492  0.610385053
Bootstrap_3  1.15e-05     18838.82488  2.786952652  0.623802894

row          cyc_q_a      cyc_q_b      cyc_q_c      cyc_q_d
Naumann      0.063        0.0971       4.0253       1.0923
Refit        0.003257477  0.001580048  0.334047436  0.344282001
Bootstrap_1  0.004435823  0.000131382  0.222126996  0.375543739
Bootstrap_2  0.002666042  0.002229531  0.084992015  0.330998384
Bootstrap_3  0.002695593  0.002232599  0.109182999  0.33248283

row          cal_r_k_ref  cal_r_ea     cal_r_c      cal_r_d
Naumann      3.4194e-10   71827.0      -3.3903      1.5604
Refit        2.65e-10     71827.0      3.23887393   1.271005977
Bootstrap_1  2.48e-10     71827.0      4.543562139  1.177603973
Bootstrap_2  2.52e-10     71827.0      3.396009967  1.203140785
Bootstrap_3  2.78e-10     71827.0      5.685900964  1.26510007

row          cyc_r_a       cyc_r_b      cyc_r_c      cyc_r_d
Naumann      -0.002        0.0021       6.8477       0.9182
Refit        -0.002159822  0.001744126  0.109013525  -0.013447187
Bootstrap_1  -0.00220191   0.001748648  0.172272257  -0.016183257
Bootstrap_2  -0.002214284  0.001560923  0.064727944  -0.011355895
Bootstrap_3  -0.002133752  0.001794631  0.11110155   -0.013751977
"""


def _parse_rows(text: str) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for block in text.strip().split("\n\n"):
        header, *lines = block.splitlines()
        names = header.split()[1:]
        for line in lines:
            row, *values = line.split()
            fields = rows.setdefault(row.replace("_", " "), {})
            for name, value in zip(names, values, strict=True):
                fields[name.replace("_ea", "_ea_j_per_mol")] = float(value)
    return rows


_ROWS: Final = _parse_rows(_ROWS_TEXT)


def naumann_row(name: str = "Naumann") -> NaumannParams:
    """The SimSES coefficient row ``name`` ("Naumann", "Refit", "Bootstrap 1"…"3").

    Caution (see the docs): SimSES applies the same equations to every row, and so does
    this module, but the Refit/Bootstrap *cycle* rows then give about 1/100 of the Naumann
    cycle fade and a near-zero, sign-changing cycle resistance rise; use them for calendar
    uncertainty bands only until their form is checked against the source.
    """
    if name not in _ROWS:
        tail = did_you_mean(name, list(_ROWS))
        rows = ", ".join(_ROWS)
        raise ParameterError([ParameterIssue(("row",), f"{name!r} is not one of {rows}{tail}")])
    return NaumannParams(**_ROWS[name])


NAUMANN_ROWS: Final = tuple(_ROWS)
"""Names of the shipped Naumann coefficient rows."""

_NAUMANN: Final = NaumannParams()
_BLAST_LFP250: Final = BlastParams()


# --------------------------------------------------------------- stress-factor rates


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _naumann_cal_q_rate(soc: ArrayLike, t_k: ArrayLike, p: NaumannParams) -> FloatArray:
    """k such that Q_loss,cal = k·sqrt(t_s)."""
    soc, t_k = _f(soc), _f(t_k)
    arr = np.exp(-p.cal_q_ea_j_per_mol / GAS_CONSTANT_SIMSES * (1.0 / t_k - 1.0 / p.t_ref_k))
    return p.cal_q_k_ref * arr * (p.cal_q_c * (soc - 0.5) ** 3 + p.cal_q_d)


def _naumann_cal_r_rate(soc: ArrayLike, t_k: ArrayLike, p: NaumannParams) -> FloatArray:
    """k such that R_inc,cal = k·t_s (SimSES: SoC term squared)."""
    soc, t_k = _f(soc), _f(t_k)
    arr = np.exp(-p.cal_r_ea_j_per_mol / GAS_CONSTANT_SIMSES * (1.0 / t_k - 1.0 / p.t_ref_k))
    return p.cal_r_k_ref * arr * (p.cal_r_c * (soc - 0.5) ** 2 + p.cal_r_d)


def _naumann_cyc_q_rate(doc: ArrayLike, c_rate: ArrayLike, p: NaumannParams) -> FloatArray:
    """k (fraction) such that Q_loss,cyc = k·sqrt(FEC)."""
    doc, c_rate = _f(doc), _f(c_rate)
    return (p.cyc_q_a * c_rate + p.cyc_q_b) * (p.cyc_q_c * (doc - 0.6) ** 3 + p.cyc_q_d) / 100.0


def _naumann_cyc_r_rate(doc: ArrayLike, c_rate: ArrayLike, p: NaumannParams) -> FloatArray:
    """k (fraction) such that R_inc,cyc = k·FEC."""
    doc, c_rate = _f(doc), _f(c_rate)
    return (p.cyc_r_a * c_rate + p.cyc_r_b) * (p.cyc_r_c * (doc - 0.5) ** 3 + p.cyc_r_d) / 100.0


def graphite_potential_v(soc: ArrayLike, params: BlastParams = _BLAST_LFP250) -> FloatArray:
    """Graphite potential vs Li/Li⁺, Ua(SoC), in V (Safari & Delacourt 2011, via BLAST-Lite).

    The lithiation fraction is ``Xa = xa_soc0 + SoC·(xa_soc1 − xa_soc0)``.
    """
    xa = params.xa_soc0 + _f(soc) * (params.xa_soc1 - params.xa_soc0)
    return (
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-(xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875)
    )


def _blast_cal_rate(soc: ArrayLike, t_k: ArrayLike, p: BlastParams) -> FloatArray:
    """k_cal such that q_cal = k_cal·t_days^pcal."""
    t_k = _f(t_k)
    ua = graphite_potential_v(soc, p)
    return p.degradation_scalar * abs(p.p1) * np.exp(p.p2_k / t_k) * np.exp(p.p3_k_per_v * ua / t_k)


def _blast_cyc_rate(dod: ArrayLike, c_rate: ArrayLike, t_k: ArrayLike, p: BlastParams) -> FloatArray:
    """k_cyc such that q_cyc = k_cyc·EFC^pcyc."""
    t_k = _f(t_k)
    lin = p.p4 + p.p5 * _f(dod) + p.p6_h * _f(c_rate)
    return p.degradation_scalar * lin * (np.exp(p.p7_k / t_k) + np.exp(-p.p8_k / t_k))


# ------------------------------------------------------------------- closed forms


def naumann_calendar_capacity_loss(
    t_s: ArrayLike, soc: ArrayLike, t_cell_k: ArrayLike, params: NaumannParams = _NAUMANN
) -> FloatArray:
    """Calendar capacity loss (fraction) after ``t_s`` seconds at constant SoC and T [K]:
    ``k_ref·exp(−Ea/R·(1/T − 1/T_ref))·(C·(SoC − 0.5)³ + D)·sqrt(t)``."""
    return _naumann_cal_q_rate(soc, t_cell_k, params) * np.sqrt(_f(t_s))


def naumann_calendar_resistance_increase(
    t_s: ArrayLike, soc: ArrayLike, t_cell_k: ArrayLike, params: NaumannParams = _NAUMANN
) -> FloatArray:
    """Calendar resistance increase (fraction of R at start):
    ``k_ref·exp(−Ea/R·(1/T − 1/T_ref))·(C·(SoC − 0.5)² + D)·t`` (squared as in SimSES)."""
    return _naumann_cal_r_rate(soc, t_cell_k, params) * _f(t_s)


def naumann_cycle_capacity_loss(
    fec: ArrayLike, doc: ArrayLike, c_rate: ArrayLike, params: NaumannParams = _NAUMANN
) -> FloatArray:
    """Cycle capacity loss (fraction) after ``fec`` full equivalent cycles of depth ``doc``
    (0–1) at ``c_rate`` (1/h): ``(A·C + B)·(C_d·(DOC − 0.6)³ + D)·sqrt(FEC) / 100``."""
    return _naumann_cyc_q_rate(doc, c_rate, params) * np.sqrt(_f(fec))


def naumann_cycle_resistance_increase(
    fec: ArrayLike, doc: ArrayLike, c_rate: ArrayLike, params: NaumannParams = _NAUMANN
) -> FloatArray:
    """Cycle resistance increase (fraction): ``(A·C + B)·(C_d·(DOC − 0.5)³ + D)·FEC / 100``.

    Negative for C-rates above B/|A| ≈ 1.05 with the default row (outside the fitted range).
    """
    return _naumann_cyc_r_rate(doc, c_rate, params) * _f(fec)


def blast_lfp250_calendar_capacity_loss(
    t_s: ArrayLike, soc: ArrayLike, t_cell_k: ArrayLike, params: BlastParams = _BLAST_LFP250
) -> FloatArray:
    """BLAST-Lite ``Lfp_Gr_250AhPrismatic`` calendar loss (fraction) after ``t_s`` seconds:
    ``q_cal = p1·exp(p2/T)·exp(p3·Ua(SoC)/T)·t_days^pcal``."""
    return _blast_cal_rate(soc, t_cell_k, params) * (_f(t_s) / DAY_S) ** params.pcal


def blast_lfp250_cycle_capacity_loss(
    efc: ArrayLike,
    dod: ArrayLike,
    c_rate: ArrayLike,
    t_cell_k: ArrayLike,
    params: BlastParams = _BLAST_LFP250,
) -> FloatArray:
    """BLAST-Lite ``Lfp_Gr_250AhPrismatic`` cycle loss (fraction) after ``efc`` cycles:
    ``q_cyc = (p4 + p5·DOD + p6·C)·(exp(p7/T) + exp(−p8/T))·EFC^pcyc``."""
    return _blast_cyc_rate(dod, c_rate, t_cell_k, params) * _f(efc) ** params.pcyc


def _advance_power_law(q: FloatArray, k: FloatArray, dx: float | FloatArray, p: float) -> None:
    """Virtual-time step of ``q = k·x^p`` in place: ``x_v = (q/k)^(1/p)``, then
    ``q ← k·(x_v + dx)^p``. Exact for piecewise-constant k. Units with k ≤ 0 or dx = 0
    keep q."""
    ok = (k > 0.0) & (np.asarray(dx) > 0.0)
    k_safe = np.where(ok, k, 1.0)
    x_virtual = (q / k_safe) ** (1.0 / p)
    np.copyto(q, k_safe * (x_virtual + dx) ** p, where=ok)
