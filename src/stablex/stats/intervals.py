"""Intervals: Fisher z for a correlation, Spearman-Brown, seed and multi-bootstrap.

The multi-bootstrap (Sellam et al. 2021) resamples seeds and texts together: one replicate
draws S seeds with replacement (as multiplicity weights, so every per-text statistic is
recomputed from the same seed draw) and T texts with replacement.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy.stats import bootstrap, norm

LEVEL = 0.95


def fisher_interval(r: float, n: int, level: float = LEVEL) -> tuple[float, float] | None:
    """Fisher-z interval tanh(atanh(r) -/+ z_{(1+level)/2} / sqrt(n - 3)).

    None when n <= 3 (no standard error) or r is not finite; r = +-1 gives [r, r]."""
    if n <= 3 or r is None or not math.isfinite(r):
        return None
    if abs(r) >= 1:
        return (float(np.sign(r)), float(np.sign(r)))
    z = math.atanh(r)
    h = norm.ppf((1 + level) / 2) / math.sqrt(n - 3)
    return (math.tanh(z - h), math.tanh(z + h))


def spearman_brown(rho: float | np.ndarray, factor: float | np.ndarray) -> float | np.ndarray:
    """Reliability of a mean of `factor` times as many seeds: f rho / (1 + (f - 1) rho)."""
    return factor * rho / (1 + (factor - 1) * rho)


def single_seed_reliability(rho: float | np.ndarray, n: float | np.ndarray) -> float | np.ndarray:
    """Invert Spearman-Brown: the one-seed reliability implied by reliability rho of n seeds."""
    return rho / (n - (n - 1) * rho)


def seeds_needed(rho1: float, target: float) -> int | None:
    """Smallest S with spearman_brown(rho1, S) >= target; None when rho1 <= 0 (never reached)."""
    if rho1 is None or not math.isfinite(rho1) or rho1 <= 0:
        return None
    if rho1 >= target:
        return 1
    s = target * (1 - rho1) / (rho1 * (1 - target))
    return int(math.ceil(s - 1e-9))


def seed_weights(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[B, S] multiplicities of S seeds drawn with replacement (each row sums to S)."""
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot).astype(np.float32)


def quantile_interval(values: np.ndarray, axis: int = -1, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along `axis`, ignoring NaN replicates (undefined draws) when present."""
    q = [(1 - level) / 2, (1 + level) / 2]
    values = np.asarray(values)
    if np.isnan(values).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(values, q, axis=axis)
    else:
        lo, hi = np.quantile(values, q, axis=axis)
    return lo, hi


@functools.lru_cache(maxsize=256)
def seed_expansion(n_seeds: int | None, level: float = LEVEL) -> float:
    """Factor by which a seed-bootstrap percentile interval is widened about its point:
    t_{S-1} / z (the seeds' SD is estimated from S of them) times sqrt(S / (S - 1)) (the
    bootstrap's variance of a mean over S seeds is (S - 1) / S of the unbiased one).
    Without it the multi-bootstrap covers ~85 % at 5-10 seeds (benchmarks/calibration.py)."""
    if not n_seeds or n_seeds < 2:
        return 1.0
    from scipy.stats import t as t_dist

    q = (1 + level) / 2
    return float(t_dist.ppf(q, n_seeds - 1) / norm.ppf(q) * math.sqrt(n_seeds / (n_seeds - 1)))


def multi_bootstrap(
    replicates: np.ndarray | None,
    point: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float = LEVEL,
    n_seeds: int | None = None,
) -> dict:
    """Corpus summary of a per-text statistic with multi-bootstrap intervals.

    `point` [T]: the statistic per text on all seeds; `replicates` [T, B]: the same statistic
    recomputed under replicate b's seed draw (None: texts-only bootstrap). Texts where the
    point value is undefined (NaN) are excluded and counted. Replicate b draws T texts with
    replacement and takes column b, so seeds and texts are resampled together. `n_seeds`:
    widen the intervals about the point by `seed_expansion(n_seeds)`."""
    point = np.asarray(point, dtype=float)
    ok = np.isfinite(point)
    out: dict = {"n_texts": int(ok.sum()), "n_undefined": int((~ok).sum())}
    if not ok.any():
        out.update(median=None, q1=None, q3=None, mean=None, median_ci=None, mean_ci=None)
        return out
    p = point[ok]
    q1, med, q3 = np.quantile(p, [0.25, 0.5, 0.75])
    out.update(median=float(med), q1=float(q1), q3=float(q3), mean=float(p.mean()))
    t = len(p)
    idx = rng.integers(0, t, size=(n_boot, t))
    if replicates is None:
        draws = p[idx]
        out["interval"] = "bootstrap over texts"
    else:
        rep = np.asarray(replicates, dtype=float)[ok][:, :n_boot]
        draws = rep[idx, np.arange(rep.shape[1])[:, None]]
        out["interval"] = "multi-bootstrap over seeds and texts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meds = np.nanmedian(draws, axis=1)
        means = np.nanmean(draws, axis=1)
    c = seed_expansion(n_seeds, level) if replicates is not None else 1.0
    out["median_ci"] = _ci(meds, level, float(med), c)
    out["mean_ci"] = _ci(means, level, float(p.mean()), c)
    if c != 1.0:
        out["interval"] += f" (widened x{c:.2f} for {n_seeds} seeds)"
    return out


def _ci(values: np.ndarray, level: float, point: float = 0.0, expand: float = 1.0) -> list[float] | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    if expand != 1.0:
        lo, hi = point - expand * (point - lo), point + expand * (hi - point)
    return [float(lo), float(hi)]


def bootstrap_mean_ci(
    values: np.ndarray, n_resamples: int, seed: int = 0, method: str = "percentile", level: float = LEVEL
) -> list[float] | None:
    """Bootstrap interval of a mean over texts (`scipy.stats.bootstrap`); None under two values.

    One value has no sampling distribution to resample. Values that are all equal give the point
    (the bootstrap distribution is one value). BCa falls back to the percentile interval where it
    is undefined (e.g. a skewed 0/1 sample)."""
    values = np.asarray(values, float)
    if len(values) < 2 or n_resamples < 1:
        return None
    if np.ptp(values) == 0:
        return [float(values[0]), float(values[0])]
    for how in dict.fromkeys((method, "percentile")):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = bootstrap(
                (values,),
                np.mean,
                n_resamples=n_resamples,
                method=how,
                confidence_level=level,
                vectorized=True,
                random_state=np.random.default_rng(seed),
            ).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            return [float(ci.low), float(ci.high)]
    return None
