"""Global lexicon: which words push toward each class, and how stable that is across seeds.

Words are lower-cased (the explanation tables carry no lemma, so no lemmatisation is done).
For each word type and class c:
- mean_relevance: mean over all its occurrences in all seeds of the relevance toward c.
  In a 2-class run every occurrence counts for both classes (relevance toward the other
  class is minus the relevance toward the reference class, see analyze.py); with more
  classes an occurrence counts only for the class its seed explained (its `target`).
- sd_seeds: SD (ddof=1) across seeds of the per-seed mean (null with one seed).
- count: occurrences (tokens) in the explained texts; n_texts: texts containing it.
- rank: rank of mean_relevance among words with count >= min_count (1 = most toward c),
  null for rarer words, whose means are too noisy to rank.
- top_share: share of seeds whose own top-N (same eligibility) contains the word.
Rank stability of the top words (summary): mean over seed pairs of the overlap of their
top-N lists (share of N), and mean overlap of a seed's top-N with the consensus top-N.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
from scipy import sparse


def _class_relevance(
    R: np.ndarray,
    onehot,
    count: np.ndarray,
    targets: np.ndarray,
    pos_text: np.ndarray,
    c: int,
    ref: int,
    n_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean relevance of each word type toward class c: per seed [S, V], pooled [V], SD over seeds [V].
    Two classes: the signed relevance (toward `ref`) turned toward c; more: positions whose seed
    explained c."""
    S, V = R.shape[0], len(count)
    if n_classes == 2:
        sums = np.asarray(onehot @ R.T, np.float64).T * (1.0 if c == ref else -1.0)  # [S, V]
        counts = np.broadcast_to(count.astype(np.float64), (S, V))
    else:
        mask = (targets[:, pos_text] == c).astype(np.float32)  # [S, N]
        sums = np.asarray(onehot @ (R * mask).T, np.float64).T
        counts = np.asarray(onehot @ mask.T, np.float64).T
    with np.errstate(invalid="ignore", divide="ignore"):
        per_seed = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
        tot = counts.sum(0)
        mean = np.where(tot > 0, sums.sum(0) / np.where(tot > 0, tot, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(per_seed, axis=0, ddof=1) if S > 1 else np.full(V, np.nan)
    return per_seed, mean, sd


def _top_overlap(per_seed: np.ndarray, consensus: np.ndarray, n: int) -> tuple[np.ndarray, float | None, float]:
    """Each seed's top-n word types among the ranked candidates [S, C]: the share of seeds that
    rank each candidate top-n, the mean pairwise overlap of seeds' top-n lists, and their
    overlap with the consensus top-n."""
    S, C = per_seed.shape
    ps = np.where(np.isfinite(per_seed), per_seed, -np.inf)
    top = np.argpartition(-ps, n - 1, axis=1)[:, :n] if n < C else np.tile(np.arange(n), (S, 1))
    member = np.zeros((S, C), np.float32)
    np.put_along_axis(member, top, 1.0, axis=1)
    overlap_consensus = float((member[:, consensus].sum(1) / n).mean())
    pair_overlap = None
    if S > 1:
        gram = member @ member.T
        pair_overlap = float((gram.sum() - np.trace(gram)) / (S * (S - 1)) / n)
    return member.mean(0), pair_overlap, overlap_consensus


def lexicon(
    R: np.ndarray,
    pos_text: np.ndarray,
    pos_type: np.ndarray,
    types: list[str],
    targets: np.ndarray,
    classes: list[str],
    ref: int,
    top_n: int = 50,
    min_count: int = 5,
    n_top_summary: int = 20,
) -> tuple[pa.Table, dict]:
    """R [S, N] signed relevance of every word position (see analyze.py), pos_text/pos_type
    [N] the text and word type of each position, targets [S, T] the class id each seed explained.
    Returns the long table (one row per word type and class) and the summary dict."""
    S, N = R.shape
    V = len(types)
    onehot = sparse.csr_matrix((np.ones(N, np.float32), (np.arange(N), pos_type)), shape=(N, V)).T.tocsr()
    count = np.bincount(pos_type, minlength=V)
    text_type = np.unique(pos_text.astype(np.int64) * V + pos_type)
    n_texts = np.bincount(text_type % V, minlength=V)
    eligible = count >= min_count
    columns: dict[str, list] = {
        k: [] for k in ("word", "class", "mean_relevance", "sd_seeds", "count", "n_texts", "rank", "top_share")
    }
    summary: dict = {
        "min_count": min_count,
        "top_n": top_n,
        "n_types": V,
        "n_eligible": int(eligible.sum()),
        "lemmas": False,
        "classes": {},
    }
    for c, name in enumerate(classes):
        per_seed, mean, sd = _class_relevance(R, onehot, count, targets, pos_text, c, ref, len(classes))
        ok = eligible & np.isfinite(mean)
        cand = np.flatnonzero(ok)
        rank = np.full(V, np.nan)
        rank[cand[np.argsort(-mean[cand], kind="stable")]] = np.arange(1, len(cand) + 1)
        n = min(top_n, len(cand))
        top_share = np.full(V, np.nan)
        cls_summary: dict = {"n_ranked": int(len(cand))}
        if n > 0:
            top_share[cand], pair_overlap, overlap_consensus = _top_overlap(per_seed[:, cand], rank[cand] <= n, n)
            best = cand[np.argsort(-mean[cand], kind="stable")[:n_top_summary]]
            cls_summary.update(
                top_words=[
                    {
                        "word": types[v],
                        "mean_relevance": float(mean[v]),
                        "sd_seeds": None if not np.isfinite(sd[v]) else float(sd[v]),
                        "count": int(count[v]),
                        "top_share": float(top_share[v]),
                    }
                    for v in best
                ],
                top_overlap_between_seeds=pair_overlap,
                top_overlap_with_consensus=overlap_consensus,
            )
        summary["classes"][name] = cls_summary
        columns["word"].extend(types)
        columns["class"].extend([name] * V)
        columns["mean_relevance"].append(mean)
        columns["sd_seeds"].append(sd)
        columns["count"].append(count)
        columns["n_texts"].append(n_texts)
        columns["rank"].append(rank)
        columns["top_share"].append(top_share)
    table = pa.table(
        {
            "word": pa.array(columns["word"], pa.string()),
            "class": pa.array(columns["class"], pa.string()),
            "mean_relevance": _float(np.concatenate(columns["mean_relevance"])),
            "sd_seeds": _float(np.concatenate(columns["sd_seeds"])),
            "count": pa.array(np.concatenate(columns["count"]).astype(np.int64)),
            "n_texts": pa.array(np.concatenate(columns["n_texts"]).astype(np.int64)),
            "rank": _int_or_null(np.concatenate(columns["rank"])),
            "top_share": _float(np.concatenate(columns["top_share"])),
        }
    )
    return table, summary


def _float(a: np.ndarray) -> pa.Array:
    """float64 column with NaN stored as null (no NaN in artefacts)."""
    a = np.asarray(a, np.float64)
    return pa.array(a, pa.float64(), mask=~np.isfinite(a))


def _int_or_null(a: np.ndarray) -> pa.Array:
    ok = np.isfinite(a)
    return pa.array(np.where(ok, a, 0).astype(np.int32), pa.int32(), mask=~ok)
