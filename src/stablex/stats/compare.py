"""`stablex compare`: is one run's explanation sensitivity different from another's?

Two runs (e.g. the quick preset and the same study fully fine-tuned, or two tasks on one
corpus) are compared on the per-text figures of `stablex analyze` for one method: median
Spearman rho and FA@k over seed pairs, the study's half-split r and the SNR.

- **Paired** when both runs explained texts of the same corpus file, text columns and label: the
  comparison uses the texts both explained, and text t of run A is matched with text t of run
  B. Otherwise **unpaired**: each run's own texts.
- **Difference** = median over texts in A - median in B. Its interval is a multi-bootstrap
  (Sellam et al. 2021): each replicate draws the texts (the same draw for both runs when
  paired) and, independently for each run, its seeds; the per-text metric under that seed
  draw comes from the same pair matrices as `stablex analyze` (agreement.pair_replicates).
  The half-split r is not defined under a seed draw (it splits the seeds in two halves), so
  its interval resamples texts only.
- **Test**: scipy.stats.permutation_test on the per-text values, swapping a text's two values
  when paired (permutation_type="samples"), shuffling texts between runs otherwise
  ("independent"); two-sided, statistic = difference of medians. A run compared with itself
  gives difference 0 and p = 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import permutation_test

from stablex.errors import StablexError
from stablex.io import write_json
from stablex.stats import agreement, reliability
from stablex.stats.intervals import quantile_interval, seed_weights
from stablex.rundir import Run
from stablex.stats.load import Explanations, explanation_seeds, load_explanations

METRICS = ("spearman", "fa", "half_r", "snr")
RNG_SEED = 0


@dataclass
class TextMetrics:
    """Per-text figures of one run: point values [T] and seed-draw replicates [T, B] (None: none)."""

    doc_ids: list[str]
    seeds: list[int]
    point: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray | None]


def text_metrics(ex: Explanations, k: int, weights: np.ndarray) -> TextMetrics:
    """Spearman, FA@k, half-split r and SNR per text, with replicates under seed draws `weights`."""
    T, B = len(ex.doc_ids), len(weights)
    names = {"spearman": "spearman", "fa": f"fa_{k}"}
    point = {m: np.full(T, np.nan) for m in METRICS}
    reps = {m: np.full((T, B), np.nan) for m in ("spearman", "fa", "snr")}
    lengths = ex.n_words
    for L in np.unique(lengths):
        ts = np.flatnonzero(lengths == L)
        pos = ex.offsets[ts][:, None] + np.arange(L)
        X = np.ascontiguousarray(ex.R[:, pos].transpose(1, 0, 2))  # [Tb, S, L]
        pairs = agreement.all_pairs(X, [k])
        for m, key in names.items():
            if m == "spearman" and L < agreement.MIN_WORDS_CORRELATION:
                continue
            point[m][ts] = agreement.pair_mean(pairs[key])
            reps[m][ts] = agreement.pair_replicates(pairs[key], weights)
        _, _, point["snr"][ts] = reliability.signal_noise(X)
        sig_b, noi_b, _ = reliability.signal_noise_replicates(X, weights)
        reps["snr"][ts] = reliability.snr(sig_b, noi_b)
        point["half_r"][ts] = reliability.half_split(X)[0]
    return TextMetrics(list(ex.doc_ids), list(ex.seeds), point, {**reps, "half_r": None})


@dataclass
class Comparison:
    """The difference of two runs' sensitivity for one method (A minus B)."""

    method: str
    run_a: str
    run_b: str
    paired: bool
    n_texts: dict[str, int]  # texts each side rests on (paired: the same texts)
    seeds: dict[str, list[int]]
    metrics: dict[str, dict]
    k: int
    n_boot: int
    n_permutations: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"method": self.method, "run_a": self.run_a, "run_b": self.run_b, "paired": self.paired,
                "n_texts": self.n_texts, "seeds": self.seeds, "k": self.k, "bootstrap": self.n_boot,
                "permutations": self.n_permutations, "metrics": self.metrics, "notes": self.notes,
                "definition": "difference = median over texts in A - median in B; interval: multi-bootstrap "
                              "(texts and each run's seeds; half_r: texts only); p: permutation test"}

    def __rich__(self):
        from rich.table import Table

        kind = "paired by text" if self.paired else "unpaired"
        t = Table(title=f"{self.method}: {self.run_a} (A) vs {self.run_b} (B), {kind}; "
                        f"{self.n_texts['a']} / {self.n_texts['b']} texts, "
                        f"{len(self.seeds['a'])} / {len(self.seeds['b'])} seeds")
        for col in ("metric", "A median", "B median", "A - B", "95% CI", "p (permutation)"):
            t.add_column(col, justify="left" if col == "metric" else "right")
        for name, m in self.metrics.items():
            ci = m["ci"]
            t.add_row(m["label"], _f(m["a"]), _f(m["b"]), _f(m["difference"]),
                      "-" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]", _f(m["p_value"]))
        return t


def _f(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _same_task(a: Path, b: Path) -> bool:
    """Same corpus file, text columns, label column and classes: then a text pairs with itself
    (another label column or class set is another task, whose texts do not pair)."""
    ma, mb = Run(a).manifest(), Run(b).manifest()
    ca, cb = ma.get("corpus", {}), mb.get("corpus", {})
    same = all(ca.get(k) is not None and ca.get(k) == cb.get(k) for k in ("sha256", "text", "label"))
    return same and ma.get("classes") == mb.get("classes")


def _median_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    with warnings.catch_warnings():  # a replicate whose seed draw leaves every text undefined is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis) - np.nanmedian(y, axis=axis)


def compare(run_a: str | Path, run_b: str | Path, method: str = "lrp", k: int = 10, n_boot: int = 500,
            n_permutations: int = 9999) -> Comparison:
    """Compare the sensitivity of `method`'s explanations in two runs (see the module docstring)."""
    run_a, run_b = Path(run_a), Path(run_b)
    if k < 1 or n_boot < 1 or n_permutations < 1:
        raise StablexError("compare: k, bootstrap and permutations must be positive")
    rng = np.random.default_rng(RNG_SEED)
    tm = {}
    for side, run in (("a", run_a), ("b", run_b)):
        seeds = explanation_seeds(run, method)
        if len(seeds) < 2:
            raise StablexError(f"{run}: {method} has {len(seeds)} seed(s); comparing sensitivity needs at least 2")
        ex = load_explanations(run, method, seeds, Run(run).classes())
        tm[side] = text_metrics(ex, k, seed_weights(len(seeds), n_boot, rng))
    notes: list[str] = []
    paired = run_a.resolve() == run_b.resolve() or _same_task(run_a, run_b)
    if paired:
        common = sorted(set(tm["a"].doc_ids) & set(tm["b"].doc_ids))
        if not common:
            paired = False
            notes.append("same corpus but no text explained in both runs: unpaired")
        else:
            for side in ("a", "b"):
                tm[side] = _subset(tm[side], common)
    else:
        notes.append("another corpus file, text or label column, or class set: unpaired")
    metrics = {}
    labels = {"spearman": "median Spearman rho", "fa": f"median FA@{k}", "half_r": "median half-split r",
              "snr": "median SNR"}
    for m in METRICS:
        metrics[m] = {"label": labels[m], **_compare_metric(tm["a"], tm["b"], m, paired, n_boot, n_permutations, rng)}
    return Comparison(method, str(run_a), str(run_b), paired,
                      {"a": len(tm["a"].doc_ids), "b": len(tm["b"].doc_ids)},
                      {"a": tm["a"].seeds, "b": tm["b"].seeds}, metrics, k, n_boot, n_permutations, notes)


def _subset(t: TextMetrics, ids: list[str]) -> TextMetrics:
    where = {d: i for i, d in enumerate(t.doc_ids)}
    rows = np.array([where[d] for d in ids], np.int64)
    return TextMetrics(ids, t.seeds, {m: v[rows] for m, v in t.point.items()},
                       {m: None if v is None else v[rows] for m, v in t.replicates.items()})


def _compare_metric(a: TextMetrics, b: TextMetrics, m: str, paired: bool, n_boot: int, n_perm: int,
                    rng: np.random.Generator) -> dict:
    pa_, pb_ = a.point[m], b.point[m]
    oka, okb = np.isfinite(pa_), np.isfinite(pb_)
    if paired:  # a text counts only where both runs define the figure
        oka = okb = oka & okb
    xa, xb = pa_[oka], pb_[okb]
    ra = None if a.replicates[m] is None else a.replicates[m][oka]
    rb = None if b.replicates[m] is None else b.replicates[m][okb]
    out = {"a": float(np.median(xa)) if len(xa) else None, "b": float(np.median(xb)) if len(xb) else None,
           "n_texts": {"a": int(len(xa)), "b": int(len(xb))}}
    if len(xa) < 2 or len(xb) < 2:
        return {**out, "difference": None, "ci": None, "p_value": None}
    out["difference"] = float(np.median(xa) - np.median(xb))
    ia = rng.integers(0, len(xa), size=(n_boot, len(xa)))
    ib = ia if paired else rng.integers(0, len(xb), size=(n_boot, len(xb)))
    cols = np.arange(n_boot)[:, None]
    da = xa[ia] if ra is None else ra[ia, cols]
    db = xb[ib] if rb is None else rb[ib, cols]
    lo, hi = quantile_interval(_median_diff(da, db, axis=1))
    out["ci"] = [float(lo), float(hi)]
    out["interval"] = ("bootstrap over texts" if ra is None else "multi-bootstrap over texts and seeds")
    res = permutation_test((xa, xb), _median_diff, permutation_type="samples" if paired else "independent",
                           n_resamples=n_perm, vectorized=True, alternative="two-sided",
                           random_state=np.random.default_rng(RNG_SEED + 1))
    out["p_value"] = float(res.pvalue)
    return out


def write_comparison(result: Comparison, path: str | Path | None = None) -> Path:
    """RUN_A/compare/<run B's name>-<method>.json unless `path` is given."""
    target = Path(path) if path else Run(result.run_a).compare_dir / f"{Path(result.run_b).name}-{result.method}.json"
    write_json(target, result.to_dict())
    return target
