"""Signal, noise and reliability of explanations across seeds; how many seeds are enough.

All functions take X [T, S, L] (T texts of L words, S seeds; signed relevance).

- signal = variance over words of the seed-mean relevance mu_w (ddof=0: the words of the
  text are the population); noise = mean over words of the across-seed variance of the
  word's relevance (ddof=1); SNR = signal / noise, undefined (NaN -> null) when noise = 0.
  (Bogaert & Standaert 2024.) The noise of the mean of S seeds is noise / S.
- per-word: mean, SD (ddof=1), coefficient of variation SD / |mean| (undefined at mean 0),
  sign consistency = max(#seeds > 0, #seeds < 0) / S (a zero relevance agrees with no sign).
- half-split Pearson (the study): seed i of the first half of the seeds (sorted by seed) is
  paired with seed i + S//2 of the second half, word by word, and the Pearson correlation is
  taken over those (S//2) * L pairs of values, so n = (S//2) * L for its Fisher-z interval.
  (For 200 seeds this is the n of about 10^4 that the study's narrow interval implies.)
- consensus reliability: correlation over words between the mean explanation of S seeds and
  that of S other seeds; Spearman-Brown extrapolates it to any number of seeds.
Correlations follow agreement.py: a constant vector correlates 0 with a varying one and 1
with another constant one; texts of fewer than 2 words are undefined (NaN).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from stablex.stats.intervals import fisher_interval, seeds_needed, single_seed_reliability, spearman_brown


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
    """[T] signal, noise, SNR (noise NaN for one seed, SNR NaN when noise is 0)."""
    X = np.asarray(X, np.float64)
    signal = X.mean(1).var(-1)
    if X.shape[1] < 2:
        noise = np.full(X.shape[0], np.nan)
    else:
        noise = X.var(1, ddof=1).mean(-1)
    return signal, noise, snr(signal, noise)


def snr(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """signal / noise, NaN where the noise is 0 or undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(noise > 0, signal / np.where(noise > 0, noise, 1), np.nan)


def signal_noise_replicates(X: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal and noise [T, B] under bootstrap seed draws, and the replicate means [T, B, L]
    (the consensus explanation of each draw, for its bands). A seed drawn m times counts m times."""
    S = X.shape[1]
    W = weights.astype(np.float32)  # [B, S]
    Xf = np.asarray(X, np.float32)
    mean = (W @ Xf) / S  # [T, B, L]
    sq = (W @ (Xf * Xf)) / S
    signal = mean.var(-1, dtype=np.float64)
    var = np.maximum(sq - mean * mean, 0) * (S / (S - 1)) if S > 1 else np.full_like(mean, np.nan)
    noise = var.mean(-1, dtype=np.float64)
    # A draw of one distinct seed has no noise at all; float32 rounding of sq - mean^2 would
    # leave ~1e-9 instead of 0 and an SNR of ~1e8 in the interval.
    noise[:, (weights > 0).sum(1) < 2] = np.nan
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
    """The study's half-split Pearson r per text, its n, and its Fisher-z interval [T] each."""
    T, S, L = X.shape
    h = S // 2
    n = h * L
    if h < 1 or L < 2:
        nan = np.full(T, np.nan)
        return nan, n, nan.copy(), nan.copy()
    a = np.asarray(X[:, :h, :], np.float64).reshape(T, n)
    b = np.asarray(X[:, h:2 * h, :], np.float64).reshape(T, n)
    r = rowcorr(a, b)
    lo, hi = np.full(T, np.nan), np.full(T, np.nan)
    for t in np.flatnonzero(np.isfinite(r)):  # a few scalar operations per text
        iv = fisher_interval(float(r[t]), n, level)
        if iv is not None:
            lo[t], hi[t] = iv
    return r, n, lo, hi


def split_reliability(X: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text: consensus correlation of the two seed halves (S//2 seeds each), the implied
    one-seed reliability, and the seeds needed for `target` (NaN when not reachable)."""
    T, S, L = X.shape
    h = S // 2
    if h < 1 or L < 2:
        nan = np.full(T, np.nan)
        return nan, nan.copy(), nan.copy()
    r = rowcorr(X[:, :h, :].mean(1, dtype=np.float64), X[:, h:2 * h, :].mean(1, dtype=np.float64))
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
        B[rows, gi, perms[:, h:h + s]] = 1.0 / s
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
    res = minimize_scalar(lambda r: float(((spearman_brown(r, g) - m) ** 2).sum()),
                          bounds=(1e-6, 1 - 1e-6), method="bounded", options={"xatol": 1e-8})
    return float(res.x)
