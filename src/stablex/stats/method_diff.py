"""Paired differences in stability between two methods of one run.

Two methods explain the same texts under the same seeds, so whether they agree or differ in
stability is a paired question: the difference in median Spearman rho (method a - method b)
with a multi-bootstrap interval whose replicate b draws the *same* texts for both methods and
uses both methods' per-text rho under the *same* seed draw (`analyze` draws its seed
multiplicities from one generator seeded with RNG_SEED, so equal seeds and replicate counts
give equal draws; the replicates are the `spearman_replicates` column of per_text.parquet).
Two marginal intervals that overlap are not evidence that the methods agree.

Written to RUN/analysis/stability_differences.json by every `stablex analyze`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from stablex.io import read_json, write_json
from stablex.records import AnalysisSummary
from stablex.rundir import Run
from stablex.stats.intervals import LEVEL

RNG_SEED = 0


@dataclass
class StabilityDifference:
    """Median rho of method a minus method b over their common texts, with its paired interval."""

    a: str
    b: str
    difference: float | None
    ci: list[float] | None
    n_texts: int
    n_seeds: int

    def verdict(self) -> str:
        """'higher' / 'lower' (a than b) when the interval excludes 0, else 'tie'."""
        if self.ci is None or self.difference is None:
            return "unknown"
        return "higher" if self.ci[0] > 0 else ("lower" if self.ci[1] < 0 else "tie")


def paired_median_difference(
    point_a: np.ndarray,
    reps_a: np.ndarray,
    point_b: np.ndarray,
    reps_b: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float = LEVEL,
) -> tuple[float | None, list | None, int]:
    """median(point_a) - median(point_b) over texts defined in both, and the interval of
    replicates that draw the same texts for both and take both methods' column b ([T, B] each)."""
    ok = np.isfinite(point_a) & np.isfinite(point_b)
    t = int(ok.sum())
    if t < 1:
        return None, None, t
    pa_, pb_ = point_a[ok], point_b[ok]
    diff = float(np.median(pa_) - np.median(pb_))
    ra, rb = np.asarray(reps_a, float)[ok], np.asarray(reps_b, float)[ok]
    B = min(n_boot, ra.shape[1], rb.shape[1])
    if B < 1:
        return diff, None, t
    idx = rng.integers(0, t, size=(B, t))
    cols = np.arange(B)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.nanmedian(ra[idx, cols], axis=1) - np.nanmedian(rb[idx, cols], axis=1)
    d = d[np.isfinite(d)]
    if not len(d):
        return diff, None, t
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return diff, [float(lo), float(hi)], t


def _method_table(run: Run, method: str) -> tuple[dict, dict] | None:
    path = run.analysis_path(method, "per_text.parquet")
    if not path.exists():
        return None
    table = pq.read_table(path)
    if "spearman_replicates" not in table.column_names:
        return None
    where = run.analysis_path(method, "summary.json")
    summary = AnalysisSummary.from_dict(read_json(where), where).to_dict()
    reps = np.asarray(
        table.column("spearman_replicates").combine_chunks().flatten().to_numpy(zero_copy_only=False), float
    ).reshape(table.num_rows, -1)
    point = np.asarray(table.column("spearman").to_numpy(zero_copy_only=False), float)
    ids = table.column("doc_id").to_pylist()
    return summary, {"ids": ids, "point": point, "reps": reps}


def stability_differences(run: Run, n_boot: int) -> dict:
    """Every ordered pair of analysed methods with the same seeds and replicate count."""
    methods = sorted(p.parent.name for p in run.analysis_root.glob("*/per_text.parquet"))
    loaded = {m: tab for m in methods if (tab := _method_table(run, m)) is not None}
    out: dict = {
        "note": "difference = median Spearman rho of <a> minus <b> over their common texts; ci: 95% "
        "multi-bootstrap, the same texts and seed draws for both methods",
        "pairs": {},
    }
    for a in loaded:
        for b in loaded:
            if a >= b:
                continue
            (sa, ta), (sb, tb) = loaded[a], loaded[b]
            if sa.get("seeds") != sb.get("seeds") or ta["reps"].shape[1] != tb["reps"].shape[1]:
                out["pairs"][f"{a}|{b}"] = {
                    "a": a,
                    "b": b,
                    "difference": None,
                    "ci": None,
                    "reason": "different seeds or replicate counts: no paired draw",
                }
                continue
            pos = {d: i for i, d in enumerate(tb["ids"])}
            common = [(i, pos[d]) for i, d in enumerate(ta["ids"]) if d in pos]
            ia, ib = (np.array(x, int) for x in zip(*common)) if common else (np.zeros(0, int), np.zeros(0, int))
            diff, ci, t = paired_median_difference(
                ta["point"][ia],
                ta["reps"][ia],
                tb["point"][ib],
                tb["reps"][ib],
                n_boot,
                np.random.default_rng(RNG_SEED),
            )
            out["pairs"][f"{a}|{b}"] = {
                "a": a,
                "b": b,
                "difference": diff,
                "ci": ci,
                "n_texts": t,
                "n_seeds": len(sa.get("seeds") or []),
            }
    return out


def write_stability_differences(run: Run, n_boot: int) -> dict:
    out = stability_differences(run, n_boot)
    write_json(run.stability_differences_path, out)
    return out


def lookup(differences: dict | None, a: str, b: str) -> StabilityDifference | None:
    """The difference a - b from a stability_differences.json record (either order stored)."""
    pairs = (differences or {}).get("pairs") or {}
    if f"{a}|{b}" in pairs:
        p, sign = pairs[f"{a}|{b}"], 1
    elif f"{b}|{a}" in pairs:
        p, sign = pairs[f"{b}|{a}"], -1
    else:
        return None
    d, ci = p.get("difference"), p.get("ci")
    return StabilityDifference(
        a,
        b,
        None if d is None else sign * d,
        None if ci is None else sorted([sign * ci[0], sign * ci[1]]),
        int(p.get("n_texts") or 0),
        int(p.get("n_seeds") or 0),
    )
