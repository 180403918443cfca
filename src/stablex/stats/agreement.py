"""Agreement between the explanations of one text by different seeds (Krishna et al. 2022).

Every function takes `X` of shape [T, S, L]: T texts of the same word count L, S seeds, the
relevance of each word (signed, see analyze.py for the convention), and returns a pair
matrix [T, S, S] whose entry (a, b) is the metric for seeds a and b. Pair matrices let one
matrix product average over all S(S-1)/2 pairs, and also over any bootstrap draw of seeds
(`pair_replicates`), without a loop over pairs.

Conventions (edge cases):
- top-k: words ordered by |relevance|, ties broken by word position (earlier word first);
  k is clipped to the text length L, and the metrics divide by the clipped k, so a text of
  3 words at k=5 compares its whole (ordered) word list.
- sign: np.sign, so a zero relevance has its own sign class (zero agrees only with zero).
- Spearman uses average ranks for ties. A constant vector has no correlation with anything:
  correlation with a non-constant vector is 0; two constant vectors order nothing
  differently and get 1. Texts of one word have no correlation at all: the caller reports
  them as undefined (see `MIN_WORDS_CORRELATION`).
- pairwise rank agreement: share of word pairs (i, j) whose order (<, =, >) by signed
  relevance is the same; a pair tied in both explanations agrees. Texts with more than
  `max_pairs` word pairs use a fixed random sample of `max_pairs` word pairs (the same for
  every seed, seeded by the text length), an unbiased estimate of the full share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

MIN_WORDS_CORRELATION = 2
MAX_PAIRS = 1000


def top_order(X: np.ndarray, k: int) -> np.ndarray:
    """[T, S, min(k, L)] word positions by decreasing |relevance| (stable: ties keep word order)."""
    ke = min(k, X.shape[-1])
    return np.argsort(-np.abs(X), axis=-1, kind="stable")[..., :ke]


def topk_pairs(X: np.ndarray, k: int, order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Pair matrices of FA@k, RA@k, SA@k and SRA@k (each divided by the clipped k)."""
    T, S, L = X.shape
    ke = min(k, L)
    order = top_order(X, ke) if order is None else order[..., :ke]
    sgn = np.sign(X).astype(np.int8)
    member = np.zeros((T, S, L), np.float32)
    np.put_along_axis(member, order, 1.0, axis=-1)
    fa = member @ member.transpose(0, 2, 1)
    signed = np.concatenate([member * (sgn > 0), member * (sgn < 0), member * (sgn == 0)], axis=-1)
    sa = signed @ signed.transpose(0, 2, 1)
    ra = (order[:, :, None, :] == order[:, None, :, :]).sum(-1, dtype=np.float32)
    code = order * 3 + (np.take_along_axis(sgn, order, axis=-1) + 1)
    sra = (code[:, :, None, :] == code[:, None, :, :]).sum(-1, dtype=np.float32)
    return {"fa": fa / ke, "ra": ra / ke, "sa": sa / ke, "sra": sra / ke}


def correlation_pairs(X: np.ndarray, ranks: bool = False) -> np.ndarray:
    """Pearson (or, with ranks=True, Spearman) correlation of every seed pair, per text."""
    V = rankdata(X, axis=-1) if ranks else np.asarray(X, dtype=np.float64)
    L = V.shape[-1]
    C = V - V.mean(-1, keepdims=True)
    sd = np.sqrt((C * C).mean(-1, keepdims=True))
    const = np.ptp(V, axis=-1) == 0  # exact: rescaling cannot make a varying vector constant
    Z = np.where(const[..., None], 0.0, C / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    R = Z @ Z.transpose(0, 2, 1) / L
    c = const.astype(np.float32)
    R += c[:, :, None] * c[:, None, :]
    return np.clip(R, -1.0, 1.0)


def word_pairs(L: int, max_pairs: int = MAX_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """All word pairs i < j, or a fixed sample of `max_pairs` of them (seeded by L)."""
    i, j = np.triu_indices(L, 1)
    if len(i) > max_pairs:
        sel = np.sort(np.random.default_rng(L).choice(len(i), max_pairs, replace=False))
        i, j = i[sel], j[sel]
    return i, j


def pairwise_rank_pairs(X: np.ndarray, max_pairs: int = MAX_PAIRS) -> np.ndarray:
    """Share of word pairs ordered the same way by two seeds (ties agree with ties).

    With D = sign(x_i - x_j) and Z = [D == 0] per word pair, the agreeing pairs of seeds a, b
    number (P - z_a - z_b + Z_a.Z_b + D_a.D_b) / 2 + Z_a.Z_b: two matrix products."""
    T, S, L = X.shape
    if L < 2:
        return np.zeros((T, S, S), np.float32)
    i, j = word_pairs(L, max_pairs)
    P = len(i)
    D = np.sign(X[..., i] - X[..., j]).astype(np.float32)
    tied = (D == 0).astype(np.float32)
    DD = D @ D.transpose(0, 2, 1)
    if tied.any():
        ZZ = tied @ tied.transpose(0, 2, 1)
        z = tied.sum(-1)
        count = (P - z[:, :, None] - z[:, None, :] + ZZ + DD) / 2 + ZZ
    else:
        count = (P + DD) / 2
    return count / P


def all_pairs(X: np.ndarray, ks: list[int], max_pairs: int = MAX_PAIRS) -> dict[str, np.ndarray]:
    """Every pair metric of the module, named as in per_text.parquet (fa_5, ..., pairwise_rank)."""
    out: dict[str, np.ndarray] = {}
    order = top_order(X, max(ks))
    for k in ks:
        for name, A in topk_pairs(X, k, order).items():
            out[f"{name}_{k}"] = A
    out["spearman"] = correlation_pairs(X, ranks=True)
    out["pearson"] = correlation_pairs(X)
    out["pairwise_rank"] = pairwise_rank_pairs(X, max_pairs)
    return out


def pair_mean(A: np.ndarray) -> np.ndarray:
    """[T] mean over the S(S-1)/2 distinct seed pairs (NaN for a single seed)."""
    S = A.shape[-1]
    if S < 2:
        return np.full(A.shape[0], np.nan)
    off = A.sum((1, 2), dtype=np.float64) - np.trace(A, axis1=1, axis2=2).astype(np.float64)
    return off / (S * (S - 1))


def pair_replicates(A: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[T, B] pair mean under bootstrap seed draws `weights` [B, S] (multiplicities).

    Pairs of two copies of the same seed are left out (they would agree perfectly), so the
    replicate mean is sum_{a != b} m_a m_b A_ab / sum_{a != b} m_a m_b; NaN when a draw holds
    a single distinct seed."""
    A0 = A.copy()
    idx = np.arange(A.shape[-1])
    A0[:, idx, idx] = 0
    Wt = weights.T.astype(np.float32)  # [S, B]
    num = ((A0 @ Wt) * Wt).sum(1, dtype=np.float64)  # [T, B]
    tot = weights.sum(1, dtype=np.float64)
    den = tot * tot - (weights.astype(np.float64) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def agreement(a: np.ndarray, b: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """All metrics for two explanations of one text (a convenience over the pair matrices)."""
    X = np.stack([np.asarray(a, float), np.asarray(b, float)])[None]
    out = {name: float(A[0, 0, 1]) for name, A in all_pairs(X, list(ks)).items()}
    if X.shape[-1] < MIN_WORDS_CORRELATION:
        for name in ("spearman", "pearson", "pairwise_rank"):
            out[name] = float("nan")
    return out
