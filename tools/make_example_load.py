"""Write profiles/loads/example_training_cluster_2026.parquet: an ILLUSTRATIVE year of a GPU
training cluster's grid import at 15 minutes (no storage, no PV), for the ROI tutorial.

Synthetic and deterministic (seed 2026), not measured: IT load of a ~6 MW cluster running
training jobs at 88-95 % of its power with a few job failures a week (the racks fall to ~35 %
for 15-60 min while the job restarts), a monthly maintenance window (half the racks off for
6 h), and cooling that follows a North-China ambient temperature (−6 °C in January to 27 °C in
July, ±5 °C between day and night): facility = IT × (1.12 + 0.018 × max(T − 10 °C, 0)).
About 56 GWh a year with an 8.5 MW peak, the scale of economics.md §7.

    python tools/make_example_load.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "profiles" / "loads" / "example_training_cluster_2026.parquet"


def main() -> None:
    rng = np.random.default_rng(2026)
    n = 365 * 96
    ts = np.datetime64("2026-01-01T00:00", "m") + np.arange(n) * np.timedelta64(15, "m")
    day = np.arange(n) / 96.0
    hour = (np.arange(n) % 96) / 4.0
    it_max = 6000.0
    util = np.clip(0.915 + 0.02 * np.sin(2 * np.pi * day / 7.0) + rng.normal(0, 0.012, n), 0.86, 0.97)
    # job failures: ~4 a week, 15-60 min at ~35 %
    starts = np.flatnonzero(rng.random(n) < 4 / (7 * 96))
    for s in starts:
        util[s : s + rng.integers(1, 5)] = 0.35 + rng.normal(0, 0.03)
    # monthly maintenance: the second Tuesday, 09:00-15:00, half the racks off
    for m in range(1, 13):
        first = np.datetime64(f"2026-{m:02d}-01")
        dow = (first.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
        tuesday = first + np.timedelta64((1 - dow) % 7 + 7, "D")
        i0 = int((tuesday - np.datetime64("2026-01-01")).astype(int)) * 96 + 36
        util[i0 : i0 + 24] *= 0.5
    t_amb = 10.5 - 16.5 * np.cos(2 * np.pi * (day - 15) / 365.0) + 5.0 * np.sin(2 * np.pi * (hour - 9) / 24.0)
    pue = 1.12 + 0.018 * np.clip(t_amb - 10.0, 0.0, None)
    p = it_max * util * pue
    table = pa.table({"timestamp": ts.astype("datetime64[ms]"), "p_import_kw": np.round(p)})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, OUT, compression="zstd")
    print(f"{OUT}: {p.sum() / 4 / 1e6:.2f} GWh, peak {p.max():,.0f} kW, mean {p.mean():,.0f} kW")


if __name__ == "__main__":
    main()
