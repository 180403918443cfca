"""How many pins (one seed per pin and source) a source design needs before its variance-ratio
intervals rank the sources: simulated with the calibration generator (stats/calibration.py,
`pinned_design_run`) at the variance components of a pilot.

Components: the point ratios of the shipped one-pin design's pilot (lrp; docs/earlier-measurements.md,
"Where the sensitivity comes from", measured before issue 19), rescaled to sum to 1 (additive
sources), optionally with the generator's interaction. A design "ranks" the sources when the
jackknife intervals of every two sources adjacent in the true order do not overlap; "top"
when the largest source's interval lies above every other's.

    python benchmarks/source_sizing.py [--sims 100] [--pins 4 8 16 24]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from stablex.stats import calibration as cal

PILOT = {"init_seed": 0.52, "order_seed": 0.74, "dropout_seed": 0.35, "data_seed": 1.28}


def separation(pins: int, components: dict[str, float], delta: float, T: int, L: int, sims: int, rng) -> dict:
    truth = cal.pinned_truth(components, delta)
    order = sorted(truth, key=truth.get)
    ranked = top = covered = 0
    widths = []
    for _ in range(sims):
        X, plans = cal.pinned_design_run(components, pins, 0, 1, delta, T, L, rng)
        r = cal.jackknife_ratios(X, plans)["ratios"]
        ci = {s: r[s]["ratio_ci_models"] for s in truth}
        if any(c is None for c in ci.values()):
            continue
        widths.append(np.mean([c[1] - c[0] for c in ci.values()]))
        ranked += all(ci[a][1] < ci[b][0] for a, b in zip(order, order[1:]))
        top += all(ci[s][1] < ci[order[-1]][0] for s in order[:-1])
        covered += all(ci[s][0] <= truth[s] <= ci[s][1] for s in truth)
    return {
        "pins": pins,
        "seeds": pins * (1 + len(components)),
        "ranked": ranked / sims,
        "top": top / sims,
        "all_covered": covered / sims,
        "mean_width": float(np.mean(widths)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--pins", type=int, nargs="+", default=[4, 8, 16, 24])
    ap.add_argument("--delta", type=float, default=0.0)
    ap.add_argument("--texts", type=int, default=30)
    ap.add_argument("--words", type=int, default=8)
    a = ap.parse_args()
    total = sum(PILOT.values())
    comp = {s: v / total for s, v in PILOT.items()}
    print("components (rescaled):", {s: round(v, 3) for s, v in comp.items()}, f"interaction {a.delta}")
    print("| pins | seeds | P(full ranking) | P(top source separated) | P(all 4 covered) | mean width |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(19)
    for p in a.pins:
        t0 = time.perf_counter()
        r = separation(p, comp, a.delta, a.texts, a.words, a.sims, rng)
        print(
            f"| {r['pins']} | {r['seeds']} | {r['ranked']:.2f} | {r['top']:.2f} | {r['all_covered']:.2f} | "
            f"{r['mean_width']:.3f} |  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
