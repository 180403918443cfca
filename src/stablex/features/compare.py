"""Paired comparison of two classifiers on the same texts: accuracy, difference, McNemar.

Both are scored on the same texts, so the difference is paired: its interval is a
bootstrap over texts of the per-text difference in correctness (`scipy.stats.bootstrap`,
percentile), and McNemar's exact test is the binomial test on the discordant texts.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, chi2
from sklearn.metrics import f1_score

from stablex.stats.intervals import bootstrap_mean_ci


def wilson(correct: np.ndarray) -> list[float] | None:
    """95% Wilson interval of an accuracy."""
    n = len(correct)
    if not n:
        return None
    ci = binomtest(int(np.sum(correct)), n).proportion_ci(0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """b: only A right; c: only B right. Exact binomial p and chi-square with continuity correction."""
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    if b + c == 0:
        return {"b": b, "c": c, "p_exact": 1.0, "p_chi2": 1.0}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "p_exact": float(binomtest(c, b + c, 0.5).pvalue), "p_chi2": float(chi2.sf(stat, 1))}


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    """Accuracy of B minus A, with a paired percentile bootstrap 95% interval over texts."""
    diff = correct_b.astype(float) - correct_a.astype(float)
    ci = bootstrap_mean_ci(diff, n_boot, seed)
    return {
        "difference": float(diff.mean()) if len(diff) else None,
        "ci": ci,
        "n": int(len(diff)),
        "mcnemar": mcnemar(correct_a.astype(bool), correct_b.astype(bool)),
    }


def compare(pool: str, y: np.ndarray, pred_base: np.ndarray, pred: np.ndarray, n_boot: int) -> dict:
    """One comparison on one pool of texts: both accuracies with intervals, the paired difference."""
    base_ok, ok = pred_base == y, pred == y
    return {
        "pool": pool,
        "n": int(len(y)),
        "accuracy": float(ok.mean()),
        "accuracy_ci": wilson(ok),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "base_accuracy": float(base_ok.mean()),
        "base_accuracy_ci": wilson(base_ok),
        "vs_base": paired_difference(base_ok, ok, n_boot),
    }
