"""Record every signal of the twin at every tick of a fixed script, or compare two recordings
signal by signal: the check that a change to the twin's tick (a quiet path, a kernel, a
reordering) moved no result it did not mean to. Run the old commit from a ``git worktree``
to record "before".

    .venv/bin/python tools/twin_images.py record /tmp/after.npz
    .venv/bin/python tools/twin_images.py compare /tmp/before.npz /tmp/after.npz [--rtol 0]

The script, on aidc_10k and lab_rack at their own tick, 3,000 ticks each (5 min at 0.1 s):
the PCS enabled at tick 0; a storage setpoint that swings every 10 s from tick 200; a
frequency dip at 900-1,000; the grid lost at 1,200 and back at 1,800 (island, genset, resync
where the site has them); the last PCS tripped at 2,300 and reset at 2,500; a GPU job failure at
2,600 (job 0 fails). ``compare`` prints each signal that differs (how many ticks, the first, the largest
difference) and the events that differ; it exits 1 if anything differs beyond ``--rtol``
(0: bit-identical, NaN equal to NaN).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hil.config import load_site
from twin import Site

SITES = ("aidc_10k", "lab_rack")
TICKS = 3000


def _script(s: Site, k: int) -> None:
    if k == 0:
        s.set("pcs.enable", 1)
    if k >= 200 and k % 100 == 0:
        s.set("bess.p_set_kw", 400.0 if (k // 100) % 2 else -300.0)
    if k == 900:
        s.set("grid.f_hz", 49.6)
    if k == 1000:
        s.set("grid.f_hz", 50.0)
    if k == 1200:
        s.set("grid.available", 0)
    if k == 1800:
        s.set("grid.available", 1)
    if k == 2300:
        s.set(f"pcs[{s.unit_count('pcs') - 1}].fault_trip", 1)
    if k == 2500:
        s.set(f"pcs[{s.unit_count('pcs') - 1}].fault_trip", 0)
        s.set(f"pcs[{s.unit_count('pcs') - 1}].fault_reset", 1)
    if k == 2600:
        s.set("gpu.job_fail", 0)


def record(path: Path) -> None:
    out: dict[str, np.ndarray] = {}
    for name in SITES:
        site = load_site(name)
        cols: dict[str, list[np.ndarray]] = {}
        for k in range(TICKS):
            _script(site, k)
            snap = site.step()
            for key, v in snap.scalars.items():
                cols.setdefault(key, []).append(np.asarray(v, dtype=float))
            for key, arr in snap.arrays.items():
                cols.setdefault(key, []).append(np.asarray(arr, dtype=float).copy())
        for key, vals in cols.items():
            width = max(v.size for v in vals)  # an array whose length changes (jobs): NaN-padded
            rows = [np.pad(v.ravel(), (0, width - v.size), constant_values=np.nan) for v in vals]
            out[f"{name}/{key}"] = np.stack(rows)
        out[f"{name}/#events"] = np.array([repr(e) for e in site.events])
    np.savez_compressed(path, **out)
    print(f"recorded {len(out)} columns of {TICKS} ticks × {len(SITES)} sites to {path}")


def compare(before: Path, after: Path, rtol: float) -> int:
    a, b = np.load(before), np.load(after)
    bad = 0
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files:
            print(f"{key}: only in {'after' if key not in a.files else 'before'}")
            bad += 1
            continue
        x, y = a[key], b[key]
        if key.endswith("#events"):
            if x.tolist() != y.tolist():
                bad += 1
                print(f"{key}: {len(x)} → {len(y)} events differ")
            continue
        if x.shape != y.shape:
            print(f"{key}: shape {x.shape} → {y.shape}")
            bad += 1
            continue
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if rtol > 0:
            same |= np.isclose(x, y, rtol=rtol, atol=0.0)
        if not same.all():
            bad += 1
            ticks = np.unique(np.nonzero(~same)[0])
            diff = np.nanmax(np.abs(np.where(same, 0.0, x - y)))
            print(f"{key}: {ticks.size} ticks differ, first {ticks[0]}, largest |Δ| {diff:.3g}")
    print("identical" if not bad else f"{bad} columns differ")
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("path", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.path)
    else:
        sys.exit(compare(args.before, args.after, args.rtol))


if __name__ == "__main__":
    main()
