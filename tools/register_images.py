"""Record every register image of every tick of a fixed gateway script, or compare two
recordings point by point: the check that a gateway change moved no register it did not mean
to (run the old commit from a ``git worktree`` to record "before").

    .venv/bin/python tools/register_images.py record /tmp/after.pkl
    .venv/bin/python tools/register_images.py compare /tmp/before.pkl /tmp/after.pkl

The script, on aidc_10k and lab_rack, 1,200 ticks each: every PCS told to 704.WSet at tick 50,
the grid lost at 300 and back at 500, PCS02 stopped with 715.OpCtl at 700, an out-of-range
write at 800. ``compare`` prints each point whose words differ (how many, in which ticks, an
example) and whether the write logs are equal; it exits 1 if anything differs.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hil.config import load_bench
from hil.wire.gateway import Gateway

SITES = ("aidc_10k", "lab_rack")
TICKS = 1200


def record(path: Path) -> None:
    res: dict[str, Any] = {}
    for site in SITES:
        tw, cfg = load_bench(site)
        gw = Gateway.from_config(tw, cfg)
        pcs = [d for d in gw.devices if d.kind == "bess"]
        frames: dict[str, list[np.ndarray]] = {k: [] for k in gw.groups}
        for k in range(TICKS):
            if k == 50:
                for d in pcs:
                    gw.write_value(d, "704.WSetEna", 1)
                    gw.write_value(d, "704.WSet", 0.4 * float(d.group.behaviour.ratings["w_max"][d.index]))
            if k == 300:
                tw.set("grid.available", 0)
            if k == 500:
                tw.set("grid.available", 1)
            if k == 700 and len(pcs) > 1:
                gw.write_value(pcs[1], "715.OpCtl", 0)
            if k == 800:
                gw.write_value(pcs[0], "704.WSet", -1e12)
            gw.advance()
            for g, grp in gw.groups.items():
                frames[g].append(grp.image.copy())
        layout = {g: [(p.key, p.offset, p.words) for p in grp.points] for g, grp in gw.groups.items()}
        res[site] = ({g: np.array(v) for g, v in frames.items()}, layout, list(gw.write_log))
    with path.open("wb") as f:
        pickle.dump(res, f)
    print(f"recorded {len(SITES)} sites × {TICKS} ticks to {path}")


def compare(before: Path, after: Path) -> int:
    with before.open("rb") as f:
        a = pickle.load(f)  # our own recording
    with after.open("rb") as f:
        b = pickle.load(f)
    differs = False
    for site in a:
        fa, layout, wa = a[site]
        fb, _, wb = b[site]
        print(f"{site}: write logs {'equal' if wa == wb else 'DIFFER'}")
        differs |= wa != wb
        for g in fa:
            d = fa[g] != fb[g]
            if not d.any():
                continue
            differs = True
            ticks, units, regs = np.nonzero(d)
            owner = {r: key for key, off, w in layout[g] for r in range(off, off + w)}
            for key in sorted({owner.get(int(r), f"@{r}") for r in regs}):
                m = np.array([owner.get(int(r), f"@{r}") == key for r in regs])
                t, u, r = ticks[m][0], units[m][0], regs[m][0]
                print(
                    f"  {g} {key}: {int(m.sum())} words differ in ticks {ticks[m].min()}..{ticks[m].max()},"
                    f" e.g. {fa[g][t, u, r]} -> {fb[g][t, u, r]}"
                )
    print("identical" if not differs else "different")
    return 1 if differs else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("record").add_argument("path", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.path)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
