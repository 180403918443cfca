"""Accuracy side: are the seeds' models statistically equivalent?

The study keeps, for subset sizes n, the n models inside the narrowest window of test
accuracy (width epsilon) and checks with a two-proportion z-test that the best and the worst
of them do not differ on the test split. Explanation variability is then measured on models
that are equivalent by accuracy, so it cannot be blamed on some seeds being worse models.

A z-test that finds no difference is not an equivalence: on few texts it could not have found
one. So each window also gets a proper equivalence test, two one-sided tests (TOST) of best
against worst with a margin (default +-1 point), paired by text when every seed predicted the
same test texts, with the smallest difference the test set could detect and the number of
texts an equivalence verdict would need (both at the configured power).
"""

from __future__ import annotations

import dataclasses
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
    tost: "Tost | None" = None  # equivalence test of best vs worst


@dataclass(frozen=True)
class Tost:
    """Two one-sided z-tests of d = acc(best) - acc(worst) against -margin and +margin."""

    best: int | None  # seeds compared (None when built from accuracies only)
    worst: int | None
    n: int  # test texts
    paired: bool  # variance from discordant texts (same texts for both) or two independent samples
    difference: float
    se: float
    margin: float
    alpha: float
    p_lower: float  # H0: d <= -margin
    p_upper: float  # H0: d >= +margin
    p_value: float  # max of the two: equivalent when < alpha
    equivalent: bool
    ci: tuple[float, float]  # the (1 - 2 alpha) interval of d: inside +-margin exactly when equivalent
    p_difference: float  # two-sided z-test of d = 0 with the same variance
    power: float
    mdd: float | None  # smallest |d| the two-sided test detects with `power`
    n_needed: int | None  # texts for TOST to conclude with `power` if the true d were 0
    discordant: tuple[int, int] | None = None  # (best right only, worst right only) when paired


@dataclass(frozen=True)
class EquivalenceResult:
    accuracy: AccuracyStats
    n_test: int
    alpha: float
    subsets: list[EquivalentSubset]
    margin: float = 0.01
    power: float = 0.8

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy_stats(accuracies: dict[int, float]) -> AccuracyStats:
    if not accuracies:
        raise ValueError("no seed accuracies")
    a = np.array(list(accuracies.values()), dtype=float)
    return AccuracyStats(
        len(a), float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else None, float(a.min()), float(a.max())
    )


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
    widths = acc_sorted[n - 1 :] - acc_sorted[: len(acc) - n + 1]
    # last index among the minima: higher accuracies win ties (rounded to ignore float noise)
    w = np.round(widths, 12)
    start = int(np.flatnonzero(w == w.min())[-1])
    return sorted(int(s) for s in seeds[order[start : start + n]])


def select_equivalent(accuracies: dict[int, float], n: int) -> list[int]:
    """The n most equivalent seeds (narrowest accuracy window): what `--equivalent n` keeps."""
    return narrowest_window(accuracies, n)


def tost(
    difference: float,
    var_per_text: float,
    n: int,
    margin: float = 0.01,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    best: int | None = None,
    worst: int | None = None,
    discordant: tuple[int, int] | None = None,
    var_null: float | None = None,
) -> Tost:
    """TOST of a difference whose estimate has variance var_per_text / n (z tests, scipy's norm).

    `var_null`: the per-text variance if the true difference were 0 (for the texts needed;
    default var_per_text). A zero observed variance (two seeds right on exactly the same texts)
    does not make the difference exact on a few texts: the variance is then bounded by the rule
    of three (at most 3/n of the texts discordant, at 95 %), so 12 identical texts show nothing
    while 10,000 can show equivalence within a point."""
    if n < 1 or margin <= 0 or not 0 < alpha < 0.5 or not 0 < power < 1:
        raise ValueError("tost needs n >= 1, margin > 0, 0 < alpha < 0.5 and 0 < power < 1")
    if var_per_text <= 0:
        var_per_text = 3.0 / n
        var_null = 3.0 / n if var_null is None or var_null <= 0 else var_null
    se = math.sqrt(max(var_per_text, 0.0) / n)
    if se > 0:
        p_lower = float(norm.sf((difference + margin) / se))
        p_upper = float(norm.cdf((difference - margin) / se))
        p_diff = float(2 * norm.sf(abs(difference) / se))
    else:
        p_lower = 0.0 if difference > -margin else 1.0
        p_upper = 0.0 if difference < margin else 1.0
        p_diff = 1.0 if difference == 0 else 0.0
    z_a, z_b = norm.ppf(1 - alpha), norm.ppf(power)
    half = z_a * se
    v0 = var_per_text if var_null is None else var_null
    mdd = float((norm.ppf(1 - alpha / 2) + z_b) * se) if se > 0 else None
    # TOST sample size for a true difference of 0: n = v0 (z_{1-alpha} + z_{1-(1-power)/2})^2 / margin^2
    needed = math.ceil(v0 * (z_a + norm.ppf(1 - (1 - power) / 2)) ** 2 / margin**2) if v0 > 0 else None
    p = max(p_lower, p_upper)
    return Tost(
        best,
        worst,
        n,
        paired,
        float(difference),
        float(se),
        margin,
        alpha,
        p_lower,
        p_upper,
        p,
        p < alpha,
        (float(difference - half), float(difference + half)),
        p_diff,
        power,
        mdd,
        needed,
        discordant,
    )


def paired_tost(
    best_correct: np.ndarray,
    worst_correct: np.ndarray,
    margin: float = 0.01,
    alpha: float = 0.05,
    power: float = 0.8,
    best: int | None = None,
    worst: int | None = None,
) -> Tost:
    """TOST of acc(best) - acc(worst) on the same texts: the paired difference of proportions,
    its variance (p10 + p01 - d^2) / n from the discordant texts (those only one seed gets right)."""
    a, b = np.asarray(best_correct, bool), np.asarray(worst_correct, bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("paired_tost needs two correctness vectors over the same texts")
    n = len(a)
    n10, n01 = int((a & ~b).sum()), int((~a & b).sum())
    d = (n10 - n01) / n
    return tost(
        d, n10 / n + n01 / n - d * d, n, margin, alpha, power, True, best, worst, (n10, n01), var_null=n10 / n + n01 / n
    )


def unpaired_tost(p1: float, p2: float, n: int, margin: float = 0.01, alpha: float = 0.05, power: float = 0.8) -> Tost:
    """TOST of p1 - p2 measured on two independent samples of n texts each (Wald variance)."""
    v = p1 * (1 - p1) + p2 * (1 - p2)
    pooled = (p1 + p2) / 2
    return tost(p1 - p2, v, n, margin, alpha, power, False, var_null=2 * pooled * (1 - pooled))


def equivalence(
    accuracies: dict[int, float],
    n_test: int,
    sizes: list[int] | None = None,
    alpha: float = 0.05,
    correct: dict[int, np.ndarray] | None = None,
    margin: float = 0.01,
    power: float = 0.8,
) -> EquivalenceResult:
    """Accuracy table over seeds plus, per subset size n, the narrowest window, the z-test of its
    best against its worst model on `n_test` test texts and their TOST (paired when `correct`,
    seed -> per-text correctness on the same test texts, is given)."""
    if n_test < 1:
        raise ValueError("n_test must be positive")
    sizes = default_sizes(len(accuracies)) if sizes is None else sizes
    subsets = []
    for n in sizes:
        chosen = narrowest_window(accuracies, n)
        vals = [accuracies[s] for s in chosen]
        lo, hi = min(vals), max(vals)
        z, p = two_proportion_z(hi, lo, n_test, n_test)
        best = max(chosen, key=lambda s: (accuracies[s], -s))
        # another seed than the best, even when accuracies tie (a pair is never "1-1")
        worst = min([s for s in chosen if s != best] or chosen, key=lambda s: (accuracies[s], s))
        if correct is not None and best in correct and worst in correct:
            t = paired_tost(correct[best], correct[worst], margin, alpha, power, best, worst)
        else:
            t = dataclasses.replace(unpaired_tost(hi, lo, n_test, margin, alpha, power), best=best, worst=worst)
        subsets.append(
            EquivalentSubset(
                n=n, epsilon=hi - lo, low=lo, high=hi, z=z, p_value=p, equivalent=p >= alpha, seeds=chosen, tost=t
            )
        )
    return EquivalenceResult(accuracy_stats(accuracies), n_test, alpha, subsets, margin, power)


def accuracy_reading(result: EquivalenceResult) -> str:
    """One sentence on best vs worst of all seeds that says only what the tests support:
    'equally accurate' only when TOST concludes, 'differ' only when the z-test does."""
    sub = result.subsets[0] if result.subsets else None
    t = sub.tost if sub is not None else None
    if sub is None or t is None:
        return "One seed: nothing to compare."
    pts = f"{100 * t.margin:g} point" + ("" if 100 * t.margin == 1 else "s")
    how = "paired by text" if t.paired else "unpaired"
    d = (
        f"best minus worst {100 * t.difference:+.1f} points, {1 - 2 * t.alpha:.0%} interval "
        f"[{100 * t.ci[0]:+.1f}, {100 * t.ci[1]:+.1f}], {t.n:,} test texts, {how}"
    )
    if t.equivalent:
        return f"The {sub.n} seeds are equally accurate within ±{pts}: TOST p = {t.p_value:.3g} ({d})."
    if t.p_difference < t.alpha:
        return (
            f"The {sub.n} seeds are not equally accurate: the best is better than the worst "
            f"(z-test p = {t.p_difference:.3g}; {d})."
        )
    need = f"about {t.n_needed:,} texts would be needed" if t.n_needed else "the texts needed cannot be estimated"
    mdd = f"{100 * t.mdd:.1f} points" if t.mdd is not None else "no difference"
    return (
        f"The test set is too small to tell whether the {sub.n} seeds are equally accurate: no difference "
        f"is detected (p = {t.p_difference:.3g}) but equivalence within ±{pts} is not shown either "
        f"(TOST p = {t.p_value:.3g}; {d}). It could detect a difference of {mdd} at {t.power:.0%} power; "
        f"for equivalence within ±{pts}, {need}."
    )
