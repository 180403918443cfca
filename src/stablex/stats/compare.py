"""`stablex compare`: is one run's explanation sensitivity different from another's?

The question is about seeds drawn at random ("does this protocol change how much explanations
move from seed to seed?"), so the trained models are the random unit and the texts a second,
crossed factor. Two runs (or two sets of seeds of one run, `seeds_a` / `seeds_b`) are compared
on per-text figures for one method: mean Spearman rho and FA@k over seed pairs, the half-split
r over every seed and the SNR (`stablex analyze`'s definitions).

- **Paired** when both runs explained texts of the same corpus file, text columns and label:
  the texts both explained with the same words. Otherwise **unpaired**.
- **Difference** = median over texts in A - median in B.
- **Test (paired only)**: a permutation of the *models*. Under "the protocol does not change
  stability", the Sa + Sb models are exchangeable, so the seeds are relabelled between the two
  sides (every split when there are at most `n_permutations`, random splits otherwise) and the
  per-text figures recomputed from the pooled pair matrices (pairs across the runs included).
  Two-sided; the smallest p the design can reach (2 / C(Sa + Sb, Sa) for equal sides) is
  printed beside p. With fewer seeds than that needs, the result says "not enough seeds per
  run to conclude (needs >= N)" and marks no difference. Unpaired runs have no model-level
  test (their models explained different texts): only the interval speaks.
- **Interval**: multi-bootstrap (Sellam et al. 2021): seeds resampled within each run and texts
  resampled (the same draw for both runs when paired); a seed drawn twice is never paired with
  itself; the percentile interval is widened about the point by `intervals.seed_expansion`
  (t quantile on S - 1 and the bootstrap's (S - 1) / S), which brings its coverage to >= 92 %
  from 3 seeds per run in `benchmarks/calibration.py`. Printed from MIN_SEEDS_INTERVAL seeds.
- **Plan** (`plan_seeds`): from the pilot's pair values, the seeds per run needed to detect a
  difference in mean rho at 80 % power (U-statistic variance of a mean over seed pairs).

A run compared with itself on the same seeds gives difference 0 and p = 1.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from stablex.errors import StablexError
from stablex.records import ComparisonRecord
from stablex.rundir import Run
from stablex.stats import agreement, reliability
from stablex.stats.intervals import quantile_interval, seed_expansion
from stablex.stats.load import Explanations, explanation_seeds, load_explanations

METRICS = ("spearman", "fa", "half_r", "snr")
RNG_SEED = 0
MIN_SEEDS_INTERVAL = 3  # per run; with 2, half the seed draws hold one distinct seed (docs/analysis.md, calibration)
CHUNK = 128  # weight vectors per block of work (bounds the [T, B, L] replicate arrays)


def smallest_p(sa: int, sb: int) -> float:
    """The smallest two-sided p of the model permutation test with sa and sb seeds."""
    n = math.comb(sa + sb, sa)
    return (2 if sa == sb else 1) / n


def seeds_to_conclude(alpha: float = 0.05) -> int:
    """Seeds per run (equal sides) with which the model permutation test can reach p < alpha."""
    s = 2
    while smallest_p(s, s) > alpha:
        s += 1
    return s


def text_values(
    X: np.ndarray, weights: np.ndarray, k: int, metrics: tuple[str, ...] = METRICS
) -> dict[str, np.ndarray]:
    """Per-text figures [T, B] of the seed draws `weights` [B, S] (multiplicities; a seed drawn
    twice is not paired with itself) for one block X [T, S, L]."""
    T, S, L = X.shape
    out = {m: np.full((T, len(weights)), np.nan) for m in metrics}
    pairs = {}
    if "spearman" in metrics and L >= agreement.MIN_WORDS_CORRELATION:
        pairs["spearman"] = agreement.correlation_pairs(X, ranks=True)
    if "fa" in metrics:
        pairs["fa"] = agreement.topk_pairs(X, k)["fa"]
    for c in range(0, len(weights), CHUNK):
        w = weights[c : c + CHUNK]
        sl = slice(c, c + len(w))
        for m, A in pairs.items():
            out[m][:, sl] = agreement.pair_replicates(A, w)
        if "snr" in metrics:
            sig, noi, _ = reliability.signal_noise_replicates(X, w)
            out["snr"][:, sl] = reliability.snr(sig, noi)
        if "half_r" in metrics:
            out["half_r"][:, sl] = reliability.half_split_replicates(X, w)
    return out


def _median(v: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():  # a draw that leaves every text undefined is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(v, axis=axis)


def permutation_weights(sa: int, sb: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """[P, 2, S] 0/1 memberships of the relabellings of sa + sb pooled models (row 0: the
    observed split). Every split when there are at most n_permutations, else random ones."""
    S = sa + sb
    n = math.comb(S, sa)
    if n <= n_permutations + 1:
        splits = [np.array(c) for c in itertools.combinations(range(S), sa)]
    else:
        splits = [np.arange(sa)] + [np.sort(rng.permutation(S)[:sa]) for _ in range(n_permutations)]
    W = np.zeros((len(splits), 2, S), np.float32)
    for i, a in enumerate(splits):
        W[i, 0, a] = 1
    W[:, 1] = 1 - W[:, 0]
    first = np.flatnonzero((W[:, 0, :sa] == 1).all(1))[0]  # the observed split first
    return np.concatenate([W[first : first + 1], np.delete(W, first, 0)])


def bootstrap_weights(sa: int, sb: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[B, 2, S] seed multiplicities: each side's seeds drawn with replacement, within the side."""
    W = np.zeros((n_boot, 2, sa + sb), np.float32)
    W[:, 0, :sa] = rng.multinomial(sa, np.full(sa, 1 / sa), size=n_boot)
    W[:, 1, sa:] = rng.multinomial(sb, np.full(sb, 1 / sb), size=n_boot)
    return W


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
    alpha: float = 0.05
    smallest_p: float | None = None  # of the model permutation test (None: no test)
    seeds_needed: int | None = None  # per run, for the test to reach alpha
    conclusive: bool = False  # the design can reach p < alpha
    plan: dict | None = None
    notes: list[str] = field(default_factory=list)

    def record(self) -> ComparisonRecord:
        """What compare/*.json stores (the record the report reads back)."""
        return ComparisonRecord(
            method=self.method,
            run_a=self.run_a,
            run_b=self.run_b,
            paired=self.paired,
            n_texts=self.n_texts,
            seeds=self.seeds,
            k=self.k,
            bootstrap=self.n_boot,
            permutations=self.n_permutations,
            alpha=self.alpha,
            smallest_p=self.smallest_p,
            seeds_needed=self.seeds_needed,
            conclusive=self.conclusive,
            metrics=self.metrics,
            plan=self.plan,
            notes=self.notes,
            definition="difference = median over texts in A - median in B; p: permutation of the models "
            "between the runs (texts crossed); interval: multi-bootstrap of seeds within runs "
            f"and texts, printed with >= {MIN_SEEDS_INTERVAL} seeds per run",
        )

    def to_dict(self) -> dict:
        return self.record().to_dict()

    def __rich__(self):
        from rich.console import Group

        from stablex.tables import table

        kind = "paired by text" if self.paired else "unpaired"
        t = table(
            f"{self.method}: {self.run_a} (A) vs {self.run_b} (B), {kind}; "
            f"{self.n_texts['a']} / {self.n_texts['b']} texts, "
            f"{len(self.seeds['a'])} / {len(self.seeds['b'])} seeds",
            [("metric", "left"), "A", "B", "A - B", "95% CI", "p", ("conclusion", "left")],
            "A, B: median over texts in each run; 95% CI: of A - B, seeds and texts resampled; "
            "p: the models permuted between the runs",
        )
        for m in self.metrics.values():
            ci = m.get("ci")
            t.add_row(
                m["label"],
                _f(m["a"]),
                _f(m["b"]),
                _f(m["difference"]),
                "-" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]",
                _f(m.get("p_value")),
                m.get("conclusion", ""),
            )
        lines = [t]
        if self.smallest_p is not None:
            lines.append(f"smallest p this design can reach: {self.smallest_p:.3g}")
        lines += self.notes
        if self.plan:
            lines.append(self.plan.get("text", ""))
        return Group(*lines)


def _f(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _same_task(a: Path, b: Path) -> bool:
    """Same corpus file, text columns, label column and classes: then a text pairs with itself
    (another label column or class set is another task, whose texts do not pair)."""
    ma, mb = Run(a).manifest(), Run(b).manifest()
    ca, cb = ma.get("corpus", {}), mb.get("corpus", {})
    same = all(ca.get(k) is not None and ca.get(k) == cb.get(k) for k in ("sha256", "text", "label"))
    return same and ma.get("classes") == mb.get("classes")


def _blocks(ex: Explanations, docs: list[str]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Word count -> (positions [Tb, L] in ex.R, row indices into `docs`)."""
    where = {d: i for i, d in enumerate(ex.doc_ids)}
    rows = np.array([where[d] for d in docs], np.int64)
    lengths = ex.n_words[rows]
    out = {}
    for L in np.unique(lengths):
        r = np.flatnonzero(lengths == L)
        out[int(L)] = (ex.offsets[rows[r]][:, None] + np.arange(L), r)
    return out


def _load(run: Path, method: str, seeds: list[int] | None) -> Explanations:
    available = explanation_seeds(run, method)
    seeds = available if seeds is None else list(seeds)
    missing = sorted(set(seeds) - set(available))
    if missing:
        raise StablexError(f"{run}: {method} has no explanations for seed(s) {missing} (explained: {available})")
    if len(seeds) < 2:
        raise StablexError(f"{run}: {method} has {len(seeds)} seed(s); comparing sensitivity needs at least 2")
    return load_explanations(run, method, seeds, Run(run).classes())


def compare(
    run_a: str | Path,
    run_b: str | Path,
    method: str = "lrp",
    k: int = 10,
    n_boot: int = 500,
    n_permutations: int = 9999,
    seeds_a: list[int] | None = None,
    seeds_b: list[int] | None = None,
    alpha: float = 0.05,
    plan: float | None = None,
) -> Comparison:
    """Compare the sensitivity of `method`'s explanations in two runs (see the module docstring)."""
    run_a, run_b = Path(run_a), Path(run_b)
    if k < 1 or n_boot < 1 or n_permutations < 1:
        raise StablexError("compare: k, bootstrap and permutations must be positive")
    if not 0 < alpha < 0.5:
        raise StablexError(f"compare: alpha = {alpha}: choose a level in (0, 0.5)")
    if plan is not None and not 0 < plan < 2:
        raise StablexError(f"compare: --plan {plan}: give the difference in median rho to detect, in (0, 2)")
    rng = np.random.default_rng(RNG_SEED)
    exa = _load(run_a, method, seeds_a)
    same_run = run_a.resolve() == run_b.resolve()
    exb = exa if same_run and seeds_b == seeds_a else _load(run_b, method, seeds_b)
    sa, sb = len(exa.seeds), len(exb.seeds)
    notes: list[str] = []
    if same_run and set(exa.seeds) == set(exb.seeds):
        return _identical(method, run_a, run_b, exa, k, n_boot, n_permutations, alpha)
    if same_run and set(exa.seeds) & set(exb.seeds):
        raise StablexError(
            f"compare: the seed sets overlap ({sorted(set(exa.seeds) & set(exb.seeds))}); "
            f"give disjoint --seeds-a and --seeds-b"
        )
    paired = same_run or _same_task(run_a, run_b)
    common: list[str] = []
    if paired:
        common = sorted(set(exa.doc_ids) & set(exb.doc_ids))
        if not common:
            paired = False
            notes.append("same corpus but no text explained in both runs: unpaired")
    else:
        notes.append("another corpus file, text or label column, or class set: unpaired, no model-level test")
    Wb = bootstrap_weights(sa, sb, n_boot, rng)
    docs_a, docs_b = (common, common) if paired else (list(exa.doc_ids), list(exb.doc_ids))
    va = _per_text(exa, docs_a, np.concatenate([np.ones((1, sa), np.float32), Wb[:, 0, :sa]]), k)
    vb = _per_text(exb, docs_b, np.concatenate([np.ones((1, sb), np.float32), Wb[:, 1, sa:]]), k)
    perm_values, tested = None, False
    if paired:
        na, nb_ = dict(zip(exa.doc_ids, exa.n_words)), dict(zip(exb.doc_ids, exb.n_words))
        same_words = [d for d in common if na[d] == nb_[d]]
        if same_words:
            perm_values = _permuted_values(exa, exb, same_words, k, n_permutations, rng)
            tested = True
            if len(same_words) < len(common):
                notes.append(
                    f"the model permutation test uses the {len(same_words)} of {len(common)} texts whose "
                    f"words are the same in both runs (models can only be pooled on the same words)"
                )
        else:
            notes.append("no text has the same words in both runs: the models cannot be pooled, no model-level test")
    n_texts = {"a": len(docs_a), "b": len(docs_b)}
    labels = {
        "spearman": "median Spearman rho",
        "fa": f"median FA@{k}",
        "half_r": "median half-split r",
        "snr": "median SNR",
    }
    min_p = smallest_p(sa, sb) if tested else None
    conclusive = min_p is not None and min_p <= alpha
    need = seeds_to_conclude(alpha)
    show_ci = min(sa, sb) >= MIN_SEEDS_INTERVAL
    if tested and not conclusive:
        notes.append(
            f"not enough seeds per run to conclude (needs >= {need} per run for the model permutation "
            f"test to reach p < {alpha:g}; smallest reachable p here {min_p:.3g})"
        )
    if not show_ci:
        notes.append(
            f"interval not shown: with fewer than {MIN_SEEDS_INTERVAL} seeds per run half the seed "
            f"draws hold one distinct seed (docs/analysis.md, calibration)"
        )
    metrics = {}
    for m in METRICS:
        metrics[m] = {
            "label": labels[m],
            **_metric(
                va[m],
                vb[m],
                None if perm_values is None else perm_values[m],
                paired,
                rng,
                alpha,
                conclusive,
                show_ci,
                min(sa, sb),
            ),
        }
    result = Comparison(
        method,
        str(run_a),
        str(run_b),
        paired,
        n_texts,
        {"a": list(exa.seeds), "b": list(exb.seeds)},
        metrics,
        k,
        n_boot,
        n_permutations,
        alpha,
        min_p,
        need,
        conclusive,
        None,
        notes,
    )
    if plan is not None:
        result.plan = plan_seeds(exa, exb, common if paired else None, plan, alpha)
    return result


def _identical(method, run_a, run_b, ex, k, n_boot, n_perm, alpha) -> Comparison:
    W = np.ones((1, len(ex.seeds)), np.float32)
    vals = _per_text(ex, list(ex.doc_ids), W, k)
    metrics = {
        m: {
            "label": m,
            "a": _nan_none(_median(v[:, 0])),
            "b": _nan_none(_median(v[:, 0])),
            "difference": 0.0,
            "ci": [0.0, 0.0],
            "p_value": 1.0,
            "conclusion": "no difference (same models)",
        }
        for m, v in vals.items()
    }
    for m, lab in (
        ("spearman", "median Spearman rho"),
        ("fa", f"median FA@{k}"),
        ("half_r", "median half-split r"),
        ("snr", "median SNR"),
    ):
        metrics[m]["label"] = lab
    T = len(ex.doc_ids)
    return Comparison(
        method,
        str(run_a),
        str(run_b),
        True,
        {"a": T, "b": T},
        {"a": list(ex.seeds), "b": list(ex.seeds)},
        metrics,
        k,
        n_boot,
        n_perm,
        alpha,
        None,
        None,
        False,
        None,
        ["the same models on both sides: difference 0 by construction"],
    )


def _nan_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _per_text(ex: Explanations, docs: list[str], weights: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """[T, B] per-text figures of `docs` under seed draws `weights` [B, S] of ex's seeds."""
    out = {m: np.full((len(docs), len(weights)), np.nan) for m in METRICS}
    for pos, rows in _blocks(ex, docs).values():
        X = np.ascontiguousarray(ex.R[:, pos].transpose(1, 0, 2))
        for m, v in text_values(X, weights, k).items():
            out[m][rows] = v
    return out


def _permuted_values(exa, exb, docs, k, n_perm, rng) -> dict[str, np.ndarray]:
    """Per-text figures [T, P, 2] (side A, side B) of the P relabellings of the pooled models
    (A's seeds then B's; the observed split first) over `docs`, whose words match in both runs."""
    sa, sb = len(exa.seeds), len(exb.seeds)
    Wp = permutation_weights(sa, sb, n_perm, rng)
    out = {m: np.full((len(docs), 2 * len(Wp)), np.nan) for m in METRICS}
    ba, bb = _blocks(exa, docs), _blocks(exb, docs)
    for L, (pos_a, rows) in ba.items():
        pos_b, _ = bb[L]
        X = np.concatenate([exa.R[:, pos_a].transpose(1, 0, 2), exb.R[:, pos_b].transpose(1, 0, 2)], axis=1)
        for m, v in text_values(np.ascontiguousarray(X), Wp.reshape(-1, sa + sb), k).items():
            out[m][rows] = v
    return {m: v.reshape(len(docs), len(Wp), 2) for m, v in out.items()}


def _metric(
    va: np.ndarray,
    vb: np.ndarray,
    perm: np.ndarray | None,
    paired: bool,
    rng: np.random.Generator,
    alpha: float,
    conclusive: bool,
    show_ci: bool,
    n_seeds: int | None = None,
) -> dict:
    """One figure: medians, difference, interval (replicates va/vb [T, 1 + B], column 0 the
    point) and, with `perm` [T', P, 2], the model permutation test."""
    oka, okb = np.isfinite(va[:, 0]), np.isfinite(vb[:, 0])
    if paired:  # a text counts only where both runs define the figure
        oka = okb = oka & okb
    pa_, pb_, ta, tb = va[oka, 0], vb[okb, 0], va[oka, 1:], vb[okb, 1:]
    out: dict[str, Any] = {
        "a": float(np.median(pa_)) if len(pa_) else None,
        "b": float(np.median(pb_)) if len(pb_) else None,
        "n_texts": {"a": int(len(pa_)), "b": int(len(pb_))},
        "ci": None,
        "p_value": None,
    }
    if len(pa_) < 2 or len(pb_) < 2:
        return {**out, "difference": None, "conclusion": "undefined"}
    diff = float(np.median(pa_) - np.median(pb_))
    out["difference"] = diff
    lo, hi = difference_interval(ta, tb, paired, rng, diff, n_seeds)
    out["ci_uncalibrated"] = [lo, hi]
    if show_ci:
        out["ci"] = [lo, hi]
    out["interval"] = "multi-bootstrap: seeds within runs and texts"
    if perm is not None:
        okp = np.isfinite(perm[:, 0, 0]) & np.isfinite(perm[:, 0, 1])
        out["p_value"] = permutation_p(perm[okp])
        out["test"] = (
            f"permutation of the models between the runs ({perm.shape[1]} relabellings, {int(okp.sum())} texts)"
        )
        out["conclusion"] = (
            "cannot conclude (too few seeds)"
            if not conclusive
            else ("differs" if out["p_value"] < alpha else "no difference shown")
        )
    else:
        ci = out["ci"]
        out["conclusion"] = (
            "cannot conclude (too few seeds)"
            if ci is None
            else ("differs" if ci[0] > 0 or ci[1] < 0 else "no difference shown")
        )
    return out


def difference_interval(
    ta: np.ndarray,
    tb: np.ndarray,
    paired: bool,
    rng: np.random.Generator,
    point: float | None = None,
    n_seeds: int | None = None,
) -> tuple[float, float]:
    """95 % multi-bootstrap interval of median(A) - median(B) from per-text replicates [T, B]
    under each run's seed draws: replicate b also draws the texts (the same draw for both when
    paired); draws that leave a figure undefined are ignored. With `point` and `n_seeds` (the
    smaller side), widened about the point by `intervals.seed_expansion`."""
    B = ta.shape[1]
    ia = rng.integers(0, len(ta), size=(B, len(ta)))
    ib = ia if paired else rng.integers(0, len(tb), size=(B, len(tb)))
    cols = np.arange(B)[:, None]
    draws = _median(ta[ia, cols], axis=1) - _median(tb[ib, cols], axis=1)
    lo, hi = quantile_interval(draws)
    if point is not None and n_seeds:
        c = seed_expansion(n_seeds)
        lo, hi = point - c * (point - lo), point + c * (hi - point)
    return float(lo), float(hi)


def permutation_p(perm: np.ndarray) -> float:
    """Two-sided p of the model permutation test from per-text values [T, P, 2] of the P
    relabellings (the observed one first): share of |median A - median B| >= the observed."""
    stats = _median(perm[:, :, 0], axis=0) - _median(perm[:, :, 1], axis=0)
    stats = stats[np.isfinite(stats)] if np.isfinite(stats[0]) else stats
    # a relabelling that mirrors the observed one gives the same |statistic| up to the float32
    # round-off of the relevance arrays (5e-8 seen in half-split r): a tie at that tolerance
    tol = 100 * float(np.finfo(np.float32).eps) * max(1.0, abs(float(stats[0])))
    return float(np.mean(np.abs(stats) >= abs(stats[0]) - tol))


def plan_seeds(
    exa: Explanations,
    exb: Explanations,
    common: list[str] | None,
    delta: float,
    alpha: float = 0.05,
    power: float = 0.8,
    max_seeds: int = 1000,
) -> dict:
    """Seeds per run to detect a difference `delta` in (mean over texts of) rho at `power`.

    Each run's h(a, b) = mean over texts of the Spearman rho of seeds a and b; the run's figure
    is the mean of h over its S(S-1)/2 pairs, a U-statistic with variance
    [4 (S - 2) s1 + 2 s2] / (S (S - 1)), s1 = Cov(h(a, b), h(a, c)), s2 = Var(h(a, b)), both
    estimated from the pilot (pooled over the two runs). Two independent runs: twice that. The
    text factor, shared by paired runs, is not counted (it cancels in a paired difference)."""
    s1s, s2s = [], []
    for ex, docs in ((exa, common or list(exa.doc_ids)), (exb, common or list(exb.doc_ids))):
        S = len(ex.seeds)
        H = np.zeros((S, S))
        n = 0
        for L, (pos, _) in _blocks(ex, docs).items():
            if L < agreement.MIN_WORDS_CORRELATION:
                continue
            X = np.ascontiguousarray(ex.R[:, pos].transpose(1, 0, 2))
            H += agreement.correlation_pairs(X, ranks=True).sum(0)
            n += len(pos)
        if not n or S < 3:
            continue
        H /= n
        off = ~np.eye(S, dtype=bool)
        h = H[off]
        mean = h.mean()
        s2s.append(h.var(ddof=1))
        r = H.sum(1) - np.diag(H)
        triples = (r**2).sum() - (H[off] ** 2).sum()  # ordered (a, b, c), b != c
        s1s.append(triples / (S * (S - 1) * (S - 2)) - mean**2)
    need = seeds_to_conclude(alpha)
    if not s2s:
        return {
            "delta": delta,
            "seeds_per_run": None,
            "text": "plan: needs a pilot with >= 3 seeds per run and texts of >= "
            f"{agreement.MIN_WORDS_CORRELATION} words",
        }
    s1, s2 = max(float(np.mean(s1s)), 0.0), float(np.mean(s2s))
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    needed: int | None = None
    for s in range(max(3, need), max_seeds + 1):
        var = 2 * (4 * (s - 2) * s1 + 2 * s2) / (s * (s - 1))
        if z * math.sqrt(var) <= delta:
            needed = s
            break
    text = (
        f"plan: to detect a difference of {delta:g} in rho at {power:.0%} power (alpha {alpha:g}), about "
        f"{needed} seeds per run"
        if needed
        else f"plan: more than {max_seeds} seeds per run for a difference of {delta:g}"
    )
    return {
        "delta": delta,
        "power": power,
        "alpha": alpha,
        "seeds_per_run": needed,
        "between_seed_cov": s1,
        "pair_variance": s2,
        "text": text + f" (pilot variance components; the model permutation test itself needs >= {need} seeds per run)",
    }


def write_comparison(result: Comparison, path: str | Path | None = None) -> Path:
    """RUN_A/compare/<run B's name>-<method>.json unless `path` is given."""
    target = (
        Path(path) if path else Run(Path(result.run_a)).compare_dir / f"{Path(result.run_b).name}-{result.method}.json"
    )
    return result.record().write(target)
