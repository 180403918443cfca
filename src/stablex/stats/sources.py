"""Which random source moves the explanations.

A seed's metrics.json records the per-source seeds it trained with (init_seed, order_seed,
dropout_seed, data_seed; see train/seeds.py). A study pins sources to isolate others, e.g.
seeds 0-4 with order_seed pinned and seeds 100-104 with init_seed pinned. Rather than
guessing groups, every pair of seeds is classified by the set of sources that differ
between its two seeds (its "varying set", e.g. "init_seed+dropout_seed"). For independent
sources, half the mean squared difference of a word's relevance over the pairs of one
varying set estimates the explanation variance those sources cause:

    var_V(w) = mean over pairs (a, b) of set V of (x_a(w) - x_b(w))^2 / 2

averaged over the words of a text. Each set's share is var_V / var_ref, where the reference
is the set in which every active source varies (pairs of unpinned seeds, or seeds of
different groups) when the study has such pairs, otherwise the variance over all seeds
(ddof=1, which equals the mean of the pair terms over all pairs). data_seed counts as a
source only when the study trains on bootstrap draws ([train] bootstrap = true).
The decomposition is reported only when there is something to compare: at least one
varying set that is not "every source" (a run where only the seed varies has none).
Intervals: per text, words resampled; overall (ratio of summed variances), texts resampled
(`share_ci`, conditional on these models) and, the interval that speaks about sources, a
delete-one-model jackknife (`variance_ratios`: models are the random unit), with the
law-of-total-variance check (a single source's ratio cannot exceed 1; independent single
sources sum to 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SOURCES = ("init_seed", "order_seed", "dropout_seed", "data_seed")

# Fewest reference pins at which the model-level interval of a variance ratio is printed: in
# the calibration table (docs/analysis.md) its coverage reaches 92 % from 6 pins under an
# interaction of the sources (88.5 % at 4, 31 % at 1), and a design cannot show it has none.
MIN_PINS = 6


@dataclass(frozen=True)
class SourceDesign:
    sources: tuple[str, ...]  # active sources
    sets: dict[str, np.ndarray]  # varying-set label -> [S, S] 0/1 symmetric pair mask, zero diagonal
    n_pairs: dict[str, int]
    reference: str  # a label of `sets`, or "all seeds"
    pins: dict[str, int] = field(default_factory=dict)  # set -> distinct values of the sources it holds fixed

    @property
    def reference_pins(self) -> int:
        """Independent references the ratios rest on: the fewest, over the sets that hold some
        source fixed, of the distinct values they hold it at (1 for a design with one pin)."""
        return min(self.pins.values(), default=0)

    @property
    def informative(self) -> bool:
        full = "+".join(self.sources)
        return any(label != full for label in self.sets)


def design(plans: list[dict], bootstrap: bool = False) -> SourceDesign:
    """Classify the seed pairs of `plans` (one dict per seed, in the analysis's seed order,
    holding the per-source seeds) by the sources that differ. Missing sources count as equal."""
    active = tuple(s for s in SOURCES if s != "data_seed" or bootstrap)
    V = np.array([[p.get(s, -1) if p.get(s) is not None else -1 for s in active] for p in plans], np.int64)
    S = len(plans)
    if S < 2:
        return SourceDesign(active, {}, {}, "all seeds")
    diff = V[:, None, :] != V[None, :, :]  # [S, S, n_sources]
    code = (diff * (1 << np.arange(len(active)))).sum(-1)
    sets: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    pins: dict[str, int] = {}
    iu = np.triu_indices(S, 1)
    full_code = (1 << len(active)) - 1
    for c in np.unique(code[iu]):
        if c == 0:
            continue  # two seeds with identical sources: no randomness between them
        label = "+".join(s for b, s in enumerate(active) if c >> b & 1)
        mask = (code == c).astype(np.float32)
        np.fill_diagonal(mask, 0)
        sets[label] = mask
        counts[label] = int(mask.sum() // 2)
        if c != full_code:
            held = [b for b in range(len(active)) if not c >> b & 1]
            a, _ = np.nonzero(np.triu(mask, 1))
            pins[label] = len({tuple(row) for row in V[a][:, held].tolist()})
    full = "+".join(active)
    return SourceDesign(active, sets, counts, full if full in sets else "all seeds", pins)


def pair_variance(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[T, L] mean over the pairs of `mask` of (x_a - x_b)^2 / 2, per word.

    sum_{a<b} m_ab (x_a - x_b)^2 = sum_a deg_a x_a^2 - x' M x: one matrix product."""
    Xf = np.asarray(X, np.float64)
    deg = mask.sum(1).astype(np.float64)
    quad = (np.einsum("ab,tbl->tal", mask.astype(np.float64), Xf) * Xf).sum(1)
    total = np.einsum("a,tal->tl", deg, Xf * Xf) - quad
    return np.maximum(total, 0) / (mask.sum() / 2) / 2


def variances(X: np.ndarray, d: SourceDesign) -> dict[str, np.ndarray]:
    """[T, L] per-word variance of every varying set, plus the reference under its label."""
    out = {label: pair_variance(X, mask) for label, mask in d.sets.items()}
    if d.reference == "all seeds":
        out["all seeds"] = np.asarray(X, np.float64).var(1, ddof=1)
    return out


def shares_per_text(
    var: dict[str, np.ndarray], reference: str, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> dict[str, np.ndarray]:
    """Per text: var_<set>, share_<set> and its word-bootstrap interval (share_<set>_lo/_hi)."""
    ref = var[reference]
    T, L = ref.shape
    idx = rng.integers(0, L, size=(n_boot, L))
    ref_b = ref[:, idx].mean(-1)  # [T, B]
    out: dict[str, np.ndarray] = {}
    q = [(1 - level) / 2, (1 + level) / 2]
    for label, v in var.items():
        m = v.mean(-1)
        out[f"var_{label}"] = m
        if label == reference:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"share_{label}"] = np.where(ref.mean(-1) > 0, m / ref.mean(-1), np.nan)
            boot = np.where(ref_b > 0, v[:, idx].mean(-1) / ref_b, np.nan)
        if np.isnan(boot).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanquantile(boot, q, axis=1)
        else:
            lo, hi = np.quantile(boot, q, axis=1)
        out[f"share_{label}_lo"], out[f"share_{label}_hi"] = lo, hi
    return out


def overall_shares(
    per_text_var: dict[str, np.ndarray], reference: str, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> dict[str, dict]:
    """Corpus share of each set: sum over texts of var_set / sum of var_ref, texts resampled."""
    ref = per_text_var[reference]
    T = len(ref)
    idx = rng.integers(0, T, size=(n_boot, T))
    out = {}
    for label, v in per_text_var.items():
        if label == reference:
            continue
        share = float(v.sum() / ref.sum()) if ref.sum() > 0 else None
        boot = v[idx].sum(1) / np.where(ref[idx].sum(1) > 0, ref[idx].sum(1), np.nan)
        boot = boot[np.isfinite(boot)]
        ci = [float(x) for x in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])] if len(boot) else None
        out[label] = {"share": share, "share_ci": ci, "mean_variance": float(v.mean())}
    return out


def accuracy_shares(
    correct: np.ndarray, d: SourceDesign, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> dict:
    """Each varying set's share of the variance of test accuracy across seeds.

    `correct` [S, n]: per-text correctness of each seed (seeds in the design's order). The
    variance of a set is the mean over its pairs of (acc_a - acc_b)^2 / 2, as for the
    explanations; the interval resamples test texts (the seeds' accuracies move together)."""
    acc = correct.mean(1)
    var = variances(acc[None, :, None], d)
    ref = float(var[d.reference][0, 0])
    n = correct.shape[1]
    idx = rng.integers(0, n, size=(n_boot, n))
    acc_b = correct[:, idx].mean(-1).T  # [B, S]
    var_b = variances(acc_b[:, :, None], d)
    ref_b = var_b[d.reference][:, 0]
    q = [(1 - level) / 2, (1 + level) / 2]
    out: dict[str, Any] = {"n_texts": int(n), "reference_variance": ref, "reference_sd": float(np.sqrt(ref))}
    shares = {}
    for label, v in var.items():
        if label == d.reference:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = var_b[label][:, 0] / np.where(ref_b > 0, ref_b, np.nan)
        boot = boot[np.isfinite(boot)]
        shares[label] = {
            "share": float(v[0, 0] / ref) if ref > 0 else None,
            "share_ci": [float(x) for x in np.quantile(boot, q)] if len(boot) else None,
            "variance": float(v[0, 0]),
            "pairs": d.n_pairs.get(label),
        }
    out["shares"] = shares
    return out


def drop_seed(d: SourceDesign, j: int) -> SourceDesign:
    """The design without seed j (its pairs removed; sets left without pairs dropped), for the
    delete-one-model jackknife."""
    sets, counts = {}, {}
    for label, mask in d.sets.items():
        m = mask.copy()
        m[j, :] = 0
        m[:, j] = 0
        if m.sum() > 0:
            sets[label], counts[label] = m, int(m.sum() // 2)
    ref = d.reference if d.reference in sets or d.reference == "all seeds" else "all seeds"
    return SourceDesign(d.sources, sets, counts, ref, {k: v for k, v in d.pins.items() if k in sets})


def variance_ratios(
    total: dict[str, float],
    jack: list[dict[str, float]],
    reference: str,
    level: float = 0.95,
    pins: int | None = None,
) -> dict:
    """Each varying set's variance ratio var_V / var_ref (summed over texts), with a
    delete-one-model jackknife interval (the models are the random unit: t on S - 1 degrees of
    freedom), and the law-of-total-variance check: no single set can exceed the reference
    (every source varying) and, for independent sources, the single-source ratios sum to 1.

    With `pins` (the design's reference pins) below MIN_PINS the intervals and the check are
    withheld (`withheld` says why): the points are printed, no ranking can be drawn from them."""
    from scipy.stats import t as t_dist

    if pins is not None and pins < MIN_PINS:
        reason = (
            f"{pins} reference pin(s): a model-level interval of a variance ratio needs at least "
            f"{MIN_PINS} (below, its coverage falls under 92 % when sources interact; docs/analysis.md)"
        )
        points = {k: v / total[reference] for k, v in total.items() if k != reference and total.get(reference)}
        ratios = {k: {"ratio": v, "ratio_ci_models": None, "jackknife_models": 0} for k, v in points.items()}
        withheld: dict = {"withheld": reason, "exceeds_total": [], "consistent": False}
        return {
            "ratios": ratios,
            "total_variance_check": withheld,
            "models": len(jack),
            "pins": pins,
            "withheld": reason,
        }

    S = len(jack)
    ref = total.get(reference)
    out: dict[str, dict] = {}
    singles = [k for k in total if k != reference and "+" not in k and k != "all seeds"]
    for label, v in total.items():
        if label == reference or not ref:
            continue
        point = v / ref
        reps = np.array(
            [j[label] / j[reference] if j.get(label) is not None and j.get(reference) else np.nan for j in jack]
        )
        ok = reps[np.isfinite(reps)]
        ci = None
        if len(ok) >= 3:
            se = float(np.sqrt((len(ok) - 1) / len(ok) * ((ok - ok.mean()) ** 2).sum()))
            h = float(t_dist.ppf((1 + level) / 2, len(ok) - 1)) * se
            ci = [max(0.0, point - h), point + h]
        out[label] = {"ratio": point, "ratio_ci_models": ci, "jackknife_models": int(len(ok))}
    check: dict = {"exceeds_total": [k for k, v in out.items() if v["ratio_ci_models"] and v["ratio_ci_models"][0] > 1]}
    if singles and ref:
        reps = np.array(
            [
                sum(j[k] for k in singles) / j[reference]
                if all(j.get(k) is not None for k in singles) and j.get(reference)
                else np.nan
                for j in jack
            ]
        )
        ok = reps[np.isfinite(reps)]
        point = sum(total[k] for k in singles) / ref
        ci = None
        if len(ok) >= 3:
            se = float(np.sqrt((len(ok) - 1) / len(ok) * ((ok - ok.mean()) ** 2).sum()))
            h = float(t_dist.ppf((1 + level) / 2, len(ok) - 1)) * se
            ci = [point - h, point + h]
        check.update(
            single_sources=singles,
            sum_of_single_ratios=point,
            sum_ci_models=ci,
            additive=bool(ci is not None and ci[0] <= 1 <= ci[1]),
        )
    check["consistent"] = not check["exceeds_total"] and check.get("additive", True)
    return {"ratios": out, "total_variance_check": check, "models": S, "pins": pins}
