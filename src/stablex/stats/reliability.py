"""Signal, noise and reliability of explanations across seeds; how many seeds are enough.

All functions take X [T, S, L] (T texts of L words, S seeds; signed relevance).

- signal = variance over words of the seed-mean relevance mu_w (ddof=0: the words of the
  text are the population), estimated without bias as the mean over pairs of distinct seeds
  of the covariance over words of their relevances; noise = mean over words of the
  across-seed variance of the word's relevance (ddof=1, i.e. the mean over distinct pairs of
  (x_a - x_b)^2 / 2); SNR = signal / noise, undefined (NaN -> null) when noise = 0
  (Bogaert & Standaert 2024). The same pairwise forms under a seed bootstrap draw pair only
  distinct seeds, so the replicates estimate what the point estimates. Noise of a mean of S
  seeds: noise / S.
- per-word: mean, SD (ddof=1), coefficient of variation SD / |mean| (undefined at mean 0),
  sign consistency = max(#seeds > 0, #seeds < 0) / S (a zero relevance agrees with no sign).
- half-split r (the study: seed i of one half paired with seed i of the other, word by word,
  one correlation over the stacked pairs), taken over every seed: the pooled correlation over
  all ordered pairs of distinct seeds, which is what averaging over every split gives; its
  corpus interval is a multi-bootstrap (`half_split_replicates`). The study's Fisher-z
  interval on n = (S//2) * L is kept per text as the replication only.
- consensus reliability: correlation over words between the mean explanation of S seeds and
  that of S other seeds; Spearman-Brown extrapolates it to any number of seeds.
Correlations follow agreement.py: a constant vector correlates 0 with a varying one and 1
with another constant one; texts of fewer than 2 words are undefined (NaN).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from stablex.stats.intervals import seeds_needed, single_seed_reliability, spearman_brown


def rowcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis with the constant-vector convention."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    saa, sbb = (a * a).sum(-1), (b * b).sum(-1)
    ca = np.ptp(a, axis=-1) == 0
    cb = np.ptp(b, axis=-1) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(-1) / np.sqrt(saa * sbb)
    r = np.where(ca | cb, np.where(ca & cb, 1.0, 0.0), r)
    return np.clip(r, -1.0, 1.0)


def signal_noise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T] signal, noise, SNR as pairwise statistics over distinct seeds (NaN for one seed;
    SNR NaN when noise is 0): `signal_noise_replicates` with every seed drawn once."""
    X = np.asarray(X, np.float64)
    S = X.shape[1]
    if S < 2:
        nan = np.full(X.shape[0], np.nan)
        return X.mean(1).var(-1) * nan, nan, nan.copy()
    sig, noi, _ = signal_noise_replicates(X, np.ones((1, S)), dtype=np.float64)
    return sig[:, 0], noi[:, 0], snr(sig[:, 0], noi[:, 0])


def snr(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """signal / noise, NaN where the noise is 0 or undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(noise > 0, signal / np.where(noise > 0, noise, 1), np.nan)


def signal_noise_replicates(
    X: np.ndarray, weights: np.ndarray, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal and noise [T, B] under seed draws `weights` [B, S] (multiplicities m), and the
    replicate means [T, B, L] (the consensus of each draw, for its bands).

    Both are means over pairs of *distinct* seeds a != b, each pair weighted m_a m_b (a seed
    drawn twice is not paired with itself), so they are unbiased under every draw:
    noise = mean over words of (x_a - x_b)^2 / 2, signal = the covariance over words (ddof=0)
    of x_a and x_b, whose expectation is the variance over words of the seed-mean relevance
    mu_w without the noise / S that the plug-in var_w(mean) adds. With D = (sum m)^2 - sum m^2:
    noise = mean_w[(sum m)(sum m x^2) - (sum m x)^2] / D and
    signal = [var_w(sum m x) - sum m^2 var_w(x_a)] / D. A draw of one distinct seed (D = 0)
    has neither (NaN)."""
    W = np.asarray(weights, dtype)  # [B, S]
    Xf = np.asarray(X, dtype)
    tot = W.sum(1, dtype=np.float64)  # [B]
    D = tot**2 - (W.astype(np.float64) ** 2).sum(1)
    M = W @ Xf  # [T, B, L]
    sq = W @ (Xf * Xf)
    with np.errstate(invalid="ignore", divide="ignore"):
        Dn = np.where(D > 0, D, np.nan)
        noise = (tot[:, None] * sq - M * M).mean(-1, dtype=np.float64) / Dn / 1.0
        noise = np.maximum(noise, 0)
        var_a = Xf.var(-1, dtype=np.float64)  # [T, S]
        signal = (M.var(-1, dtype=np.float64) - var_a @ (W.astype(np.float64) ** 2).T) / Dn
    mean = M / tot.astype(dtype)[:, None]
    return signal, noise, mean


def per_word(X: np.ndarray) -> dict[str, np.ndarray]:
    """[T, L] mean, sd, cv, sign consistency of every word across seeds."""
    X = np.asarray(X, np.float64)
    S = X.shape[1]
    mean = X.mean(1)
    sd = X.std(1, ddof=1) if S > 1 else np.full(mean.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.where(mean != 0, sd / np.abs(np.where(mean != 0, mean, 1)), np.nan)
    consistency = np.maximum((X > 0).sum(1), (X < 0).sum(1)) / S
    return {"mean": mean, "sd": sd, "cv": cv, "sign_consistency": consistency}


def half_split(X: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Half-split r per text over every seed (`half_split_replicates` with each seed once), its
    n = (S//2) * L, and the study's Fisher-z interval on that n [T] each (replication only: it
    treats words as independent and the seeds as fixed)."""
    T, S, L = X.shape
    h = S // 2
    n = h * L
    if h < 1 or L < 2:
        nan = np.full(T, np.nan)
        return nan, n, nan.copy(), nan.copy()
    r = half_split_replicates(X, np.ones((1, S)), dtype=np.float64)[:, 0]
    lo, hi = np.full(T, np.nan), np.full(T, np.nan)
    if n > 3:  # fisher_interval, vectorised over texts
        h = norm.ppf((1 + level) / 2) / np.sqrt(n - 3)
        ok = np.isfinite(r)
        with np.errstate(divide="ignore"):
            z = np.arctanh(np.clip(r[ok], -1, 1))
        lo[ok], hi[ok] = np.tanh(z - h), np.tanh(z + h)
    return r, n, lo, hi


def half_split_replicates(X: np.ndarray, weights: np.ndarray, dtype=np.float32) -> np.ndarray:
    """[T, B] the study's half-split r over every seed, under seed draws `weights` [B, S].

    The study correlates, word by word, seed i of one half with seed i of the other, stacked
    over the pairs. Averaged over every way of pairing distinct seeds this is the pooled
    (double-entry, intraclass) correlation over all ordered pairs a != b: with y = x - c (c
    the grand mean over seeds and words), r = sum_w[(sum m y)^2 - sum m^2 y^2] /
    sum_a m_a (sum m - m_a) sum_w y_a^2, D = (sum m)^2 - sum m^2. No seed is left out (the study's
    form drops the odd seed), and a seed drawn twice is not paired with itself (NaN for a
    draw of one distinct seed)."""
    T, S, L = X.shape
    if L < 2:
        return np.full((T, len(weights)), np.nan)
    W = np.asarray(weights, dtype)
    W2 = W.astype(np.float64) ** 2
    Xf = np.asarray(X, dtype)
    tot = W.sum(1, dtype=np.float64)  # [B]
    D = tot**2 - W2.sum(1)
    M = W @ Xf  # [T, B, L]
    s1 = Xf.sum(-1, dtype=np.float64)  # [T, S]
    s2 = (Xf * Xf).sum(-1, dtype=np.float64)
    U = tot[:, None] * W.astype(np.float64) - W2  # weight of seed a over its pairs: m_a (sum m - m_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (s1 @ U.T) / (L * np.where(D > 0, D, np.nan))  # [T, B] grand mean over the pairs
        sm = M.sum(-1, dtype=np.float64)
        q1 = (M * M).sum(-1, dtype=np.float64)
        term1 = q1 - 2 * tot * c * sm + tot**2 * c * c * L
        term2 = s2 @ W2.T - 2 * c * (s1 @ W2.T) + c * c * L * W2.sum(1)
        den = s2 @ U.T - 2 * c * (s1 @ U.T) + c * c * L * D
        r = np.where(den > 1e-12 * np.maximum(q1, 1e-300), (term1 - term2) / np.where(den != 0, den, 1), 1.0)
    r = np.where(D > 0, r, np.nan)
    return np.clip(r, -1.0, 1.0)


def split_reliability(X: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text: consensus correlation of the two seed halves (S//2 seeds each), the implied
    one-seed reliability, and the seeds needed for `target` (NaN when not reachable)."""
    T, S, L = X.shape
    h = S // 2
    if h < 1 or L < 2:
        nan = np.full(T, np.nan)
        return nan, nan.copy(), nan.copy()
    r = rowcorr(X[:, :h, :].mean(1, dtype=np.float64), X[:, h : 2 * h, :].mean(1, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho1 = np.where(r > -1, single_seed_reliability(r, h), np.nan)
    needed = np.array([np.nan if (v := seeds_needed(float(x), target)) is None else v for x in rho1], float)
    return r, rho1, needed


def curve_grid(n_seeds: int) -> list[int]:
    """Consensus sizes S measured: 1, 2, 3, 4, 6, 8, 12, 16, ... up to n_seeds // 2."""
    half = n_seeds // 2
    grid = {1, half} if half >= 1 else set()
    p = 2
    while p <= half:
        grid.update(v for v in (p, 3 * p // 2) if v <= half)
        p *= 2
    return sorted(grid)


def consensus_curve(X: np.ndarray, perms: np.ndarray, grid: list[int]) -> np.ndarray:
    """[T, R, G] correlation between the consensus of seeds perm[:s] and of perm[h:h+s]
    (disjoint halves of a random permutation, h = S//2), for each repeat r and size s."""
    T, S, L = X.shape
    h = S // 2
    R, G = len(perms), len(grid)
    A = np.zeros((R, G, S), np.float32)
    B = np.zeros((R, G, S), np.float32)
    for gi, s in enumerate(grid):  # a handful of sizes: selection matrices, no loop over seeds
        rows = np.arange(R)[:, None]
        A[rows, gi, perms[:, :s]] = 1.0 / s
        B[rows, gi, perms[:, h : h + s]] = 1.0 / s
    Xf = np.asarray(X, np.float32)
    ca = np.einsum("rgs,tsl->trgl", A, Xf, optimize=True)
    cb = np.einsum("rgs,tsl->trgl", B, Xf, optimize=True)
    return rowcorr(ca.astype(np.float64), cb.astype(np.float64))


def fit_single_seed(grid: list[int], measured: list[float]) -> float | None:
    """One-seed reliability whose Spearman-Brown curve fits the measured one (least squares)."""
    g = np.asarray(grid, float)
    m = np.asarray(measured, float)
    ok = np.isfinite(m)
    if not ok.any():
        return None
    g, m = g[ok], m[ok]
    res = minimize_scalar(
        lambda r: float(((spearman_brown(r, g) - m) ** 2).sum()),
        bounds=(1e-6, 1 - 1e-6),
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(res.x)
