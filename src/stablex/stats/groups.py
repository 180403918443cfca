"""Is the sensitivity to the seed larger for some kinds of words or texts than for others?

Loncour, Bogaert & Standaert (2026) find that explanation sensitivity depends on the class
of the text and on the syntactic context of the word. Here a word's sensitivity is its
dispersion across seeds made comparable between texts:

    dispersion(w) = SD over seeds of w's relevance / RMS over the text's words of the consensus

(relevance scales differ from text to text with the explained logit; dividing by the text's
own consensus scale makes a text with large logits count no more than another), and the
share of seeds agreeing on its sign. Words are grouped (by the text's class, gold or
predicted, or by the word's part of speech) and compared by:

- each group's median with a 95 % interval from a **cluster bootstrap over texts** (words of
  one text are not independent: a replicate draws texts, with all their words);
- the Kruskal-Wallis H test across groups (scipy.stats.kruskal) with its effect size
  epsilon^2 = H / (n - 1) (Tomczak & Tomczak 2014; 0 = no effect, 1 = groups fully apart).
  Its p-value treats words as independent, so it overstates the evidence when words of a
  text move together: read it with the cluster intervals, which do not.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kruskal

from stablex.stats.intervals import quantile_interval

MIN_GROUP_WORDS = 5  # smaller groups are listed but left out of the test


def text_scale(mean: np.ndarray, text: np.ndarray, n_texts: int) -> np.ndarray:
    """[n_texts] RMS of the consensus relevance over each text's words."""
    sq = np.bincount(text, weights=np.asarray(mean, float) ** 2, minlength=n_texts)
    n = np.bincount(text, minlength=n_texts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(sq / n)


def dispersion(sd: np.ndarray, mean: np.ndarray, text: np.ndarray, n_texts: int) -> np.ndarray:
    """Per word: SD across seeds over its text's consensus RMS (NaN for a text of zero relevance)."""
    scale = text_scale(mean, text, n_texts)[text]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, sd / np.where(scale > 0, scale, 1), np.nan)


def compare_groups(values: np.ndarray, groups: np.ndarray, text: np.ndarray, n_boot: int,
                   rng: np.random.Generator, level: float = 0.95) -> dict:
    """Per group: words, texts, median [cluster-bootstrap interval]; Kruskal-Wallis and epsilon^2.

    `groups` holds a label per word (None: not in any group, counted as left out)."""
    values = np.asarray(values, float)
    labels = np.asarray(groups, object)
    keep = np.isfinite(values) & np.array([g is not None for g in labels], bool)
    out: dict = {"n_words": int(keep.sum()), "left_out": int((~keep).sum())}
    if not keep.any():
        return {**out, "groups": {}, "test": None}
    v, g, t = values[keep], labels[keep].astype(str), np.asarray(text)[keep]
    names, gi = np.unique(g, return_inverse=True)
    texts, ti = np.unique(t, return_inverse=True)
    draws = rng.integers(0, len(texts), size=(n_boot, len(texts)))
    weight = np.zeros((n_boot, len(texts)))  # how often each text is drawn in each replicate
    np.add.at(weight, (np.arange(n_boot)[:, None], draws), 1.0)
    table = {}
    for j, name in enumerate(names):
        sel = gi == j
        lo, hi = quantile_interval(_weighted_medians(v[sel], weight[:, ti[sel]]))
        table[str(name)] = {"n_words": int(sel.sum()), "n_texts": int(len(np.unique(ti[sel]))),
                            "median": float(np.median(v[sel])), "median_ci": [float(lo), float(hi)],
                            "mean": float(v[sel].mean())}
    out["groups"] = table
    tested = [v[gi == j] for j in range(len(names)) if (gi == j).sum() >= MIN_GROUP_WORDS]
    if len(tested) < 2:
        out["test"] = None
        return out
    h, p = kruskal(*tested)
    n = sum(len(x) for x in tested)
    out["test"] = {"name": "Kruskal-Wallis", "H": float(h), "p_value": float(p), "groups_tested": len(tested),
                   "n_words": int(n), "epsilon_squared": float(h / (n - 1)),
                   "min_group_words": MIN_GROUP_WORDS}
    return out


def _weighted_medians(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[B] medians of `v` [n] under integer multiplicities `w` [B, n] (bootstrap draws); NaN
    for a draw that holds none of the values. The values are sorted once for every draw."""
    order = np.argsort(v, kind="stable")
    vs, cw = v[order], np.cumsum(w[:, order], axis=1)  # [n], [B, n]
    total = cw[:, -1]
    half = total / 2
    lo = vs[np.minimum((cw < half[:, None]).sum(1), len(vs) - 1)]  # first position reaching half
    hi = vs[np.minimum((cw <= half[:, None]).sum(1), len(vs) - 1)]  # the next one, for an even total
    med = np.where(total % 2 == 0, (lo + hi) / 2, lo)
    return np.where(total > 0, med, np.nan)
