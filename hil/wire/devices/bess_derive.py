"""The battery cabinets' per-tick derived values, compiled (numba): one call instead of about
forty numpy operations on 16-element arrays (≈ 30 µs a tick on aidc_10k, the largest part of
the gateway's encode).

:func:`derive_into` writes one row per derived value into a matrix the behaviour keeps (the
row order is :data:`ROWS`); each row is computed as the numpy expression it replaces,
operation for operation, so the registers are the same to the bit (``tools/register_images.py``,
``tests/unit/hil/wire/test_bess_derive.py``). The three-phase block is
:func:`hil.wire.devices.ac.ac_block`'s array form. Every code the kernel compares with comes in
through ``codes`` (:data:`CODES`), so this module depends on nothing that can change under
numba's on-disk cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["CODES", "ROWS", "derive_into"]

#: the rows of the output matrix, in order
ROWS = (
    "w", "var", "va", "pf", "a", "v_ll", "v_ln", "w_ph", "var_ph", "va_ph",
    "tot_wh_inj", "tot_wh_abs", "tot_varh_inj", "tot_varh_abs", "dc_wh_inj", "dc_wh_abs",
    "st", "conn_st", "der_mode", "loc_rem", "evt1", "wh_avail", "sta",
    "n_str_con", "str_a", "wcha_max", "wdischa_max", "inv_st_legacy", "comms_lost",
    "cell_v_avg", "t_avg",
)  # fmt: skip

#: the entries of the ``codes`` argument, in order
CODES = (
    "running", "throttled", "contactor_closed", "bms_fault", "sta_error", "sta_warning", "sta_ok",
    "connected", "disconnected", "gfm_mode", "gfl_mode", "comm_bit",
)  # fmt: skip

_SQRT3 = math.sqrt(3.0)


@njit(cache=True)
def derive_into(
    out: np.ndarray,
    codes: np.ndarray,
    islanded: bool,
    v_nom: np.ndarray,
    v_pu: float,
    p_kw: np.ndarray,
    q_kvar: np.ndarray,
    books: tuple[np.ndarray, ...],
    state: np.ndarray,
    contactor: np.ndarray,
    v_dc: np.ndarray,
    alarm: np.ndarray,
    bms_state: np.ndarray,
    comms_lost: np.ndarray,
    local: np.ndarray,
    gfm: np.ndarray,
    soc: np.ndarray,
    soc_min: np.ndarray,
    wh_rtg: np.ndarray,
    soh: np.ndarray,
    n_str: np.ndarray,
    i_dc: np.ndarray,
    ccl: np.ndarray,
    dcl: np.ndarray,
    cell: tuple[np.ndarray, ...],
    legacy: np.ndarray,
) -> None:
    """Fill ``out`` (``len(ROWS)`` × n). ``books`` is the six energy books (kWh: discharge,
    charge, kvarh injected, absorbed, DC charge, DC discharge), one array each; ``cell`` the
    cell extremes (V max, V min, °C max, °C min); ``legacy`` the inverter-state → model-124
    table, its last entry the default."""
    running_code, throttled_code = codes[0], codes[1]
    comm_bit = np.int64(codes[11])
    last = legacy.size - 1
    for i in range(p_kw.size):
        w = p_kw[i] * 1000.0
        var = q_kvar[i] * 1000.0
        v_ll = v_nom[i] * v_pu
        va = math.hypot(w, var)
        out[0, i] = w
        out[1, i] = var
        out[2, i] = va
        out[3, i] = abs(w) / max(va, 1e-9) if va > 1.0 else 1.0
        out[4, i] = va / (_SQRT3 * max(v_ll, 1.0))
        out[5, i] = v_ll
        out[6, i] = v_ll / _SQRT3
        out[7, i] = w / 3.0
        out[8, i] = var / 3.0
        out[9, i] = va / 3.0
        for k in range(6):
            out[10 + k, i] = books[k][i] * 1000.0
        s = state[i]
        running = s in (running_code, throttled_code)
        out[16, i] = 1.0 if running else 0.0
        out[17, i] = codes[7] if running else codes[8]
        out[18, i] = codes[9] if (islanded and gfm[i]) else codes[10]
        out[19, i] = 1.0 if local[i] else 0.0
        bits = np.int64(alarm[i])
        if comms_lost[i]:
            bits = bits | comm_bit
        out[20, i] = float(bits)
        out[21, i] = max(soc[i] - soc_min[i], 0.0) / 100.0 * wh_rtg[i] * soh[i] / 100.0
        if bms_state[i] == codes[3]:
            out[22, i] = codes[4]
        elif alarm[i] > 0:
            out[22, i] = codes[5]
        else:
            out[22, i] = codes[6]
        out[23, i] = n_str[i] if contactor[i] == codes[2] else 0.0
        out[24, i] = i_dc[i] / n_str[i]
        out[25, i] = ccl[i] * v_dc[i]
        out[26, i] = dcl[i] * v_dc[i]
        idx = np.int64(s)
        out[27, i] = legacy[idx] if (idx >= 0 and idx < last) else legacy[last]
        out[28, i] = 1.0 if comms_lost[i] else 0.0
        out[29, i] = 0.5 * (cell[0][i] + cell[1][i])
        out[30, i] = 0.5 * (cell[2][i] + cell[3][i])
