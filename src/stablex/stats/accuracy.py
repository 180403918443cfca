"""Accuracy across seeds: do the seeds differ, by how much, and are they equally accurate?

The seeds are the random unit. The study's reading (the narrowest accuracy window, a z-test of
its best against its worst seed) picks the extreme pair after looking and tests it as if it had
been planned: under equal true accuracy it says "not equally accurate" in about a third of
5-seed studies and always at 200 seeds (benchmarks/calibration.py). It stays, labelled, as the
replication of the paper (`stats/equivalence.py`). stablex's own answer, one per question:

- **Do the seeds differ?** One omnibus test over all seeds, paired by text: Cochran's Q
  (statsmodels; for two seeds the exact McNemar test, statsmodels' binomial form).
- **By how much?** The seed SD of accuracy: the SD of the seeds' true accuracies once the
  test-text sampling noise is removed, from the two-way (seed x text) analysis of variance of
  the correctness matrix: sigma2_seed = (MS_seed - MS_resid) / n, with the interval of the
  variance ratio from the F distribution on S - 1 and (S - 1)(n - 1) degrees of freedom (the
  classical random-effects interval: it rests on the number of seeds, so 5 seeds give a wide
  one). The raw SD of the observed accuracies (the paper's 0.0056) is kept beside it.
- **Is a new seed equally accurate?** Equivalence within +-margin: the one-sided upper
  confidence bound of the seed SD lies below the margin (a test of H0: SD >= margin at level
  alpha). The intersection-union of the paired TOSTs of every pair (`pairwise_tost`) is kept as
  a detail about these particular models; it cannot conclude at many seeds on a fixed test set
  (the test-text noise of the widest of S(S-1)/2 pairs grows with S), so it is not the reading.

`reading(result)` turns these into the one sentence `stablex models`, the verdict and the
report print.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import f as f_dist
from scipy.stats import norm

LEVEL = 0.95


@dataclass(frozen=True)
class Omnibus:
    """The test of "the seeds differ in accuracy" over all seeds, paired by text."""

    test: str  # "Cochran's Q" | "exact McNemar"
    statistic: float
    df: int
    p_value: float
    alpha: float
    differ: bool


@dataclass(frozen=True)
class SeedSD:
    """The seed SD of accuracy (test-text noise removed) with its interval, and the raw SD."""

    sd: float  # sqrt(max(0, sigma2_seed))
    ci: tuple[float, float]  # LEVEL two-sided interval
    upper: float  # LEVEL one-sided upper bound
    observed_sd: float  # SD (ddof=1) of the observed accuracies: the study's figure
    noise_sd: float  # SD of one seed's accuracy from the test texts alone, sqrt(MS_resid / n)
    level: float


@dataclass(frozen=True)
class PairwiseEquivalence:
    """Intersection-union of the paired TOSTs of every pair of seeds."""

    margin: float
    alpha: float
    p_value: float  # the largest pairwise TOST p: equivalent when < alpha
    equivalent: bool
    pairs: int
    widest: tuple[int, int]  # the pair with the largest TOST p
    widest_difference: float  # its accuracy difference
    widest_ci: tuple[float, float]  # its (1 - 2 alpha) interval


@dataclass(frozen=True)
class SeedAccuracy:
    """stablex's accuracy reading over S seeds x n test texts."""

    n_seeds: int
    n_test: int
    seeds: list[int]
    mean: float
    omnibus: Omnibus
    seed_sd: SeedSD
    equivalence: PairwiseEquivalence  # these particular models, every pair (detail, not the reading)
    margin: float = 0.01

    @property
    def equally_accurate(self) -> bool:
        """A new seed's accuracy varies by less than the margin: the seed SD's upper bound is below it."""
        return self.seed_sd.upper < self.margin

    def to_dict(self) -> dict:
        return {**asdict(self), "equally_accurate": self.equally_accurate}


def anova_components(correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MS_seed and MS_resid of the two-way seed x text ANOVA without replication.

    `correct` [..., S, n] (a batch of studies allowed, for the calibration harness)."""
    y = np.asarray(correct, np.float64)
    S, n = y.shape[-2:]
    g = y.mean((-2, -1), keepdims=True)
    a = y.mean(-1, keepdims=True)
    b = y.mean(-2, keepdims=True)
    ss_seed = n * ((a - g) ** 2).sum((-2, -1))
    ss_res = ((y - a - b + g) ** 2).sum((-2, -1))
    return ss_seed / (S - 1), ss_res / ((S - 1) * (n - 1))


def seed_sd(correct: np.ndarray, level: float = LEVEL) -> SeedSD:
    """The seed SD of accuracy with its F-based interval (see the module docstring)."""
    y = np.asarray(correct, bool)
    S, n = y.shape
    ms_seed, ms_res = (float(v) for v in anova_components(y))
    lo, hi, up = seed_sd_bounds(np.array(ms_seed), np.array(ms_res), S, n, level)
    sd = math.sqrt(max(0.0, (ms_seed - ms_res) / n))
    return SeedSD(sd, (float(lo), float(hi)), float(up), float(y.mean(1).std(ddof=1)), math.sqrt(ms_res / n), level)


def seed_sd_bounds(
    ms_seed: np.ndarray, ms_res: np.ndarray, S: int, n: int, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided interval and one-sided upper bound of the seed SD (vectorised).

    F = MS_seed / MS_resid ~ (1 + theta) F(S-1, (S-1)(n-1)) with theta = n sigma2_seed /
    sigma2_resid; theta's bounds are F / F_quantile - 1 (clipped at 0)."""
    d1, d2 = S - 1, (S - 1) * (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.where(ms_res > 0, ms_seed / np.where(ms_res > 0, ms_res, 1), np.inf * (ms_seed > 0))
    a = (1 - level) / 2

    def sd(q: float) -> np.ndarray:
        theta = np.maximum(F / f_dist.ppf(q, d1, d2) - 1, 0)
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.nan_to_num(theta * ms_res / n, nan=0.0, posinf=np.inf))

    return sd(1 - a), sd(a), sd(1 - level)


def omnibus(correct: np.ndarray, alpha: float = 0.05) -> Omnibus:
    """Cochran's Q over all seeds (statsmodels), exact McNemar for two."""
    from statsmodels.stats.contingency_tables import cochrans_q, mcnemar

    y = np.asarray(correct, bool)
    S = y.shape[0]
    if S == 2:
        n10, n01 = int((y[0] & ~y[1]).sum()), int((~y[0] & y[1]).sum())
        r = mcnemar([[0, n10], [n01, 0]], exact=True)
        p = float(r.pvalue)
        return Omnibus("exact McNemar", float(r.statistic), 1, p, alpha, p < alpha)
    informative = y.any(0) & ~y.all(0)  # texts every seed gets right (or wrong) carry no information
    if not informative.any():
        return Omnibus("Cochran's Q", 0.0, S - 1, 1.0, alpha, False)
    r = cochrans_q(y[:, informative].T.astype(int))
    p = float(r.pvalue)
    return Omnibus("Cochran's Q", float(r.statistic), int(r.df), p, alpha, p < alpha)


def cochran_q_batch(correct: np.ndarray) -> np.ndarray:
    """Cochran's Q p-values of a batch [..., S, n] (numpy/scipy; equal to statsmodels', tested)."""
    from scipy.stats import chi2

    y = np.asarray(correct, np.float64)
    S = y.shape[-2]
    col = y.sum(-1)  # per seed
    row = y.sum(-2)  # per text
    N = row.sum(-1)
    num = (S - 1) * (S * (col**2).sum(-1) - N**2)
    den = S * N - (row**2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return chi2.sf(q, S - 1)


def pairwise_tost(
    correct: np.ndarray, margin: float = 0.01, alpha: float = 0.05, seeds: list[int] | None = None
) -> PairwiseEquivalence:
    """Intersection-union of the paired TOSTs (z form of `equivalence.paired_tost`) of all pairs."""
    y = np.asarray(correct, bool)
    S, n = y.shape
    seeds = list(range(S)) if seeds is None else list(seeds)
    p, d, se = pairwise_tost_p(y, margin)
    iu = np.triu_indices(S, 1)
    k = int(np.argmax(p[iu]))
    i, j = int(iu[0][k]), int(iu[1][k])
    half = norm.ppf(1 - alpha) * se[i, j]
    pmax = float(p[i, j])
    return PairwiseEquivalence(
        margin,
        alpha,
        pmax,
        pmax < alpha,
        len(iu[0]),
        (seeds[i], seeds[j]),
        float(d[i, j]),
        (float(d[i, j] - half), float(d[i, j] + half)),
    )


def pairwise_tost_p(correct: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[..., S, S] TOST p, difference acc_i - acc_j and its paired SE for every pair (vectorised).

    Same statistic as `equivalence.paired_tost`: Var(d) = (p10 + p01 - d^2) / n; a zero
    variance makes d exact (p 0 inside the margin, 1 outside)."""
    y = np.asarray(correct, np.float32)
    n = y.shape[-1]
    n10 = y @ (1 - y).swapaxes(-1, -2)  # [i, j]: texts i gets right and j wrong
    n01 = n10.swapaxes(-1, -2)
    d = (n10 - n01) / n
    var = np.maximum((n10 + n01) / n - d * d, 0)
    se = np.sqrt(var / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lo = np.where(se > 0, norm.sf((d + margin) / np.where(se > 0, se, 1)), (d <= -margin).astype(float))
        p_hi = np.where(se > 0, norm.cdf((d - margin) / np.where(se > 0, se, 1)), (d >= margin).astype(float))
    return np.maximum(p_lo, p_hi), d, se


def seed_accuracy(
    correct: dict[int, np.ndarray], margin: float = 0.01, alpha: float = 0.05, level: float = LEVEL
) -> SeedAccuracy | None:
    """The accuracy reading from per-text correctness (seed -> [n] on the same test texts);
    None with fewer than 2 seeds or without per-text predictions."""
    if len(correct) < 2:
        return None
    seeds = sorted(correct)
    y = np.stack([np.asarray(correct[s], bool) for s in seeds])
    if y.ndim != 2 or y.shape[1] < 2:
        return None
    return SeedAccuracy(
        len(seeds),
        int(y.shape[1]),
        seeds,
        float(y.mean()),
        omnibus(y, alpha),
        seed_sd(y, level),
        pairwise_tost(y, margin, alpha, seeds),
        margin,
    )


def _pts(x: float, signed: bool = False) -> str:
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.2f}"


def reading(r: SeedAccuracy | None) -> str:
    """One sentence: whether the seeds differ (the omnibus test), whether a new seed is equally
    accurate (the seed SD's upper bound below the margin) and the seed SD with its interval."""
    if r is None:
        return "Fewer than two seeds with per-text test predictions: no seed-level accuracy reading."
    o, s = r.omnibus, r.seed_sd
    pts = f"{100 * r.margin:g} point" + ("" if 100 * r.margin == 1 else "s")
    test = f"{o.test} over the {r.n_seeds} seeds, paired by {r.n_test:,} test texts, p = {o.p_value:.3g}"
    sd = (
        f"seed SD of accuracy on these texts {_pts(s.sd)} points, {s.level:.0%} interval [{_pts(s.ci[0])}, "
        f"{_pts(s.ci[1])}], "
        f"upper bound {_pts(s.upper)} (observed SD {_pts(s.observed_sd)}, of which test-text noise alone "
        f"{_pts(s.noise_sd)})"
    )
    if o.differ and r.equally_accurate:
        return f"The seeds differ in accuracy ({test}), but little: the {sd} lies below ±{pts}."
    if o.differ:
        return f"The {r.n_seeds} seeds are not equally accurate: {test}; {sd}."
    if r.equally_accurate:
        return (
            f"The {r.n_seeds} seeds are equally accurate within ±{pts}: no difference detected ({test}) and the "
            f"{sd} lies below the margin."
        )
    return (
        f"No accuracy difference between the {r.n_seeds} seeds is detected ({test}), but with {r.n_seeds} seeds "
        f"equivalence within ±{pts} is not shown either: {sd}."
    )
