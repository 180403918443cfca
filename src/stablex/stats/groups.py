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
- tests with the **text as unit**, since the class is a property of the text and words of one
  text move together: a class effect by a permutation of the class labels across texts
  (`class_test`: Kruskal-Wallis H on the per-text medians, its p from label permutations, its
  effect size epsilon^2 = H / (n_texts - 1) per text); a part-of-speech effect by a permutation
  of the POS labels *within* texts (`within_text_test`: H on the words, p from within-text
  permutations, which keep every text's own level), with per-text effects (`within_text_effects`:
  per group, the median over texts of the group's mean minus its text's mean);
- a **magnitude-matched** comparison (`magnitude_matched`): dispersion (SD / the text's RMS) is
  smaller for words of small relevance, so POS whose words carry little relevance look stable by
  magnitude alone. Words are binned by |consensus| / the text's RMS (quantile bins); each word's
  dispersion minus its bin's median is compared between POS the same way as the raw one, so the
  report can say whether the POS ordering survives.

The word-level Kruskal-Wallis of the groups (`word_level_test`) is kept in the record, marked
as treating words as independent; the report reads the text-unit tests.
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


def compare_groups(
    values: np.ndarray, groups: np.ndarray, text: np.ndarray, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> dict:
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
        table[str(name)] = {
            "n_words": int(sel.sum()),
            "n_texts": int(len(np.unique(ti[sel]))),
            "median": float(np.median(v[sel])),
            "median_ci": [float(lo), float(hi)],
            "mean": float(v[sel].mean()),
        }
    out["groups"] = table
    tested = [v[gi == j] for j in range(len(names)) if (gi == j).sum() >= MIN_GROUP_WORDS]
    if len(tested) < 2:
        out["test"] = None
        return out
    h, p = kruskal(*tested)
    n = sum(len(x) for x in tested)
    out["test"] = {
        "name": "Kruskal-Wallis (words as independent units: overstates the evidence)",
        "H": float(h),
        "p_value": float(p),
        "groups_tested": len(tested),
        "n_words": int(n),
        "epsilon_squared": float(h / (n - 1)),
        "min_group_words": MIN_GROUP_WORDS,
    }
    return out


def _h_from_ranks(ranks: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Kruskal-Wallis H (no tie correction) for ranks [N] under label rows [P, N] (ids 0..k-1)."""
    N = ranks.shape[0]
    P = labels.shape[0]
    rows = np.repeat(np.arange(P), N)
    sums = np.zeros((P, k))
    counts = np.zeros((P, k))
    np.add.at(sums, (rows, labels.ravel()), np.tile(ranks, P))
    np.add.at(counts, (rows, labels.ravel()), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        term = np.where(counts > 0, sums**2 / np.where(counts > 0, counts, 1), 0.0).sum(1)
    return 12.0 / (N * (N + 1)) * term - 3 * (N + 1)


def class_test(
    values: np.ndarray, text_labels: np.ndarray, text: np.ndarray, n_perm: int, rng: np.random.Generator
) -> dict | None:
    """A class effect with the text as unit: Kruskal-Wallis H on each text's median value across
    the text classes, p from `n_perm` permutations of the class labels across texts, and
    epsilon^2 = H / (n_texts - 1). `text_labels` is the label of each word's text (one per word)."""
    values, labels = np.asarray(values, float), np.asarray(text_labels, object)
    keep = np.isfinite(values) & np.array([g is not None for g in labels], bool)
    if not keep.any():
        return None
    t = np.asarray(text)[keep]
    texts, ti = np.unique(t, return_inverse=True)
    med = np.array([np.median(values[keep][ti == j]) for j in range(len(texts))])
    lab_text = np.empty(len(texts), object)
    lab_text[ti] = labels[keep]
    names, li = np.unique(lab_text.astype(str), return_inverse=True)
    if len(names) < 2 or min(np.bincount(li)) < 2:
        return None
    ranks = _ranks(med)
    h0 = float(_h_from_ranks(ranks, li[None, :], len(names))[0])
    perms = np.stack([rng.permutation(li) for _ in range(n_perm)]) if n_perm else np.zeros((0, len(li)), int)
    hp = _h_from_ranks(ranks, perms, len(names)) if n_perm else np.zeros(0)
    return {
        "name": "Kruskal-Wallis on per-text medians, class labels permuted across texts",
        "unit": "text",
        "H": h0,
        "p_value": float((1 + (hp >= h0 - 1e-12).sum()) / (1 + n_perm)),
        "permutations": n_perm,
        "n_texts": int(len(texts)),
        "groups_tested": int(len(names)),
        "epsilon_squared": h0 / (len(texts) - 1),
        "text_medians": {str(n): float(np.median(med[li == j])) for j, n in enumerate(names)},
    }


def within_text_test(
    values: np.ndarray, groups: np.ndarray, text: np.ndarray, n_perm: int, rng: np.random.Generator
) -> dict | None:
    """A word-group (POS) effect tested by permuting the group labels within texts: H on the
    words' values, its null from within-text permutations (each text keeps its own level and its
    own mix of groups), so text-to-text differences are not counted as a group effect."""
    v, g, t = _kept(values, groups, text)
    if v is None:
        return None
    names, gi = np.unique(g, return_inverse=True)
    big = np.bincount(gi) >= MIN_GROUP_WORDS
    sel = big[gi]
    v, gi, t = v[sel], np.searchsorted(np.flatnonzero(big), gi[sel]), t[sel]
    if big.sum() < 2:
        return None
    ranks = _ranks(v)
    h0 = float(_h_from_ranks(ranks, gi[None, :], int(big.sum()))[0])
    order = np.argsort(t, kind="stable")
    bounds = np.flatnonzero(np.r_[True, t[order][1:] != t[order][:-1], True])
    perms = np.empty((n_perm, len(gi)), int)
    for b in range(n_perm):
        lab = gi[order].copy()
        for a, e in zip(bounds[:-1], bounds[1:]):
            lab[a:e] = lab[a:e][rng.permutation(e - a)]
        perms[b, order] = lab
    hp = _h_from_ranks(ranks, perms, int(big.sum())) if n_perm else np.zeros(0)
    return {
        "name": "Kruskal-Wallis on words, labels permuted within texts",
        "unit": "text (within-text permutation)",
        "H": h0,
        "p_value": float((1 + (hp >= h0 - 1e-12).sum()) / (1 + n_perm)),
        "permutations": n_perm,
        "n_words": int(len(v)),
        "n_texts": int(len(np.unique(t))),
        "groups_tested": int(big.sum()),
        "min_group_words": MIN_GROUP_WORDS,
    }


def within_text_effects(
    values: np.ndarray, groups: np.ndarray, text: np.ndarray, n_boot: int, rng: np.random.Generator
) -> dict:
    """Per group: the median over texts of (the group's mean value in the text - the text's mean),
    with a 95 % bootstrap interval over those texts: an effect measured inside each text."""
    v, g, t = _kept(values, groups, text)
    if v is None:
        return {}
    texts, ti = np.unique(t, return_inverse=True)
    text_mean = np.bincount(ti, weights=v) / np.bincount(ti)
    out = {}
    for name in np.unique(g):
        sel = g == name
        n = np.bincount(ti[sel], minlength=len(texts))
        s = np.bincount(ti[sel], weights=v[sel], minlength=len(texts))
        has = n > 0
        dev = s[has] / n[has] - text_mean[has]
        if len(dev) < 2:
            continue
        reps = np.median(dev[rng.integers(0, len(dev), (n_boot, len(dev)))], axis=1) if n_boot else np.zeros(0)
        lo, hi = quantile_interval(reps) if n_boot else (np.nan, np.nan)
        out[str(name)] = {
            "n_texts": int(has.sum()),
            "median_effect": float(np.median(dev)),
            "median_effect_ci": [float(lo), float(hi)],
        }
    return out


def magnitude_matched(disp: np.ndarray, magnitude: np.ndarray, n_bins: int = 5) -> tuple[np.ndarray, list]:
    """Each word's dispersion minus the median dispersion of its |relevance| bin (quantile bins of
    `magnitude`, e.g. |consensus| / the text's RMS), and the bin edges: what is left once words are
    compared at matched magnitude."""
    disp, magnitude = np.asarray(disp, float), np.asarray(magnitude, float)
    ok = np.isfinite(disp) & np.isfinite(magnitude)
    edges = np.quantile(magnitude[ok], np.linspace(0, 1, n_bins + 1)) if ok.any() else np.zeros(n_bins + 1)
    b = np.clip(np.searchsorted(edges, magnitude, side="right") - 1, 0, n_bins - 1)
    out = np.full(len(disp), np.nan)
    for j in range(n_bins):
        sel = ok & (b == j)
        if sel.any():
            out[sel] = disp[sel] - np.median(disp[sel])
    return out, edges.tolist()


def _kept(values, groups, text):
    values = np.asarray(values, float)
    labels = np.asarray(groups, object)
    keep = np.isfinite(values) & np.array([g is not None for g in labels], bool)
    if not keep.any():
        return None, None, None
    return values[keep], labels[keep].astype(str), np.asarray(text)[keep]


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


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
