"""Accuracy side: are the seeds' models statistically equivalent?

The study keeps, for subset sizes n, the n models inside the narrowest window of test
accuracy (width epsilon) and checks with a two-proportion z-test that the best and the worst
of them do not differ on the test split. Explanation variability is then measured on models
that are equivalent by accuracy, so it cannot be blamed on some seeds being worse models.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class AccuracyStats:
    n_seeds: int
    mean: float
    sd: float | None  # sample SD (ddof=1); None for one seed
    min: float
    max: float


@dataclass(frozen=True)
class EquivalentSubset:
    n: int  # subset size
    epsilon: float  # accuracy window max - min of the subset
    low: float
    high: float
    z: float | None  # two-proportion z of best vs worst (None when undefined: both 0 or 1)
    p_value: float
    equivalent: bool  # p_value >= alpha: best and worst are not distinguishable
    seeds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class EquivalenceResult:
    accuracy: AccuracyStats
    n_test: int
    alpha: float
    subsets: list[EquivalentSubset]

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy_stats(accuracies: dict[int, float]) -> AccuracyStats:
    if not accuracies:
        raise ValueError("no seed accuracies")
    a = np.array(list(accuracies.values()), dtype=float)
    return AccuracyStats(len(a), float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else None,
                         float(a.min()), float(a.max()))


def two_proportion_z(p1: float, p2: float, n1: int, n2: int) -> tuple[float | None, float]:
    """Pooled two-proportion z-test, two-sided. Equal proportions or a pooled rate of 0 or 1
    (no variance) give z = 0 / None and p = 1: nothing distinguishes the two."""
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return (None, 1.0)
    z = (p1 - p2) / math.sqrt(var)
    return z, float(2 * norm.sf(abs(z)))


def default_sizes(n_seeds: int) -> list[int]:
    """The study's sizes for 200 seeds were {200, 150, 100, 50}, i.e. N, 3N/4, N/2, N/4.
    Runs of at most 20 seeds get every n from N down to 2 (the quarters would be too coarse)."""
    if n_seeds <= 20:
        return list(range(n_seeds, 1, -1)) or [n_seeds]
    return sorted({n_seeds, round(3 * n_seeds / 4), round(n_seeds / 2), max(2, round(n_seeds / 4))}, reverse=True)


def narrowest_window(accuracies: dict[int, float], n: int) -> list[int]:
    """The n seeds whose accuracies lie in the narrowest window. Ties between windows of
    equal width go to the higher accuracies (the better models); seeds are returned sorted."""
    if not 1 <= n <= len(accuracies):
        raise ValueError(f"subset size {n} must be between 1 and the number of seeds ({len(accuracies)})")
    seeds = np.array(list(accuracies.keys()))
    acc = np.array(list(accuracies.values()), dtype=float)
    order = np.lexsort((seeds, acc))  # by accuracy, then seed: deterministic
    acc_sorted = acc[order]
    widths = acc_sorted[n - 1:] - acc_sorted[: len(acc) - n + 1]
    # last index among the minima: higher accuracies win ties (rounded to ignore float noise)
    w = np.round(widths, 12)
    start = int(np.flatnonzero(w == w.min())[-1])
    return sorted(int(s) for s in seeds[order[start:start + n]])


def select_equivalent(accuracies: dict[int, float], n: int) -> list[int]:
    """The n most equivalent seeds (narrowest accuracy window): what `--equivalent n` keeps."""
    return narrowest_window(accuracies, n)


def equivalence(accuracies: dict[int, float], n_test: int, sizes: list[int] | None = None,
                alpha: float = 0.05) -> EquivalenceResult:
    """Accuracy table over seeds plus, per subset size n, the narrowest window and the z-test
    of its best against its worst model on `n_test` test texts."""
    if n_test < 1:
        raise ValueError("n_test must be positive")
    sizes = default_sizes(len(accuracies)) if sizes is None else sizes
    subsets = []
    for n in sizes:
        chosen = narrowest_window(accuracies, n)
        vals = [accuracies[s] for s in chosen]
        lo, hi = min(vals), max(vals)
        z, p = two_proportion_z(hi, lo, n_test, n_test)
        subsets.append(EquivalentSubset(n=n, epsilon=hi - lo, low=lo, high=hi, z=z, p_value=p,
                                        equivalent=p >= alpha, seeds=chosen))
    return EquivalenceResult(accuracy_stats(accuracies), n_test, alpha, subsets)
