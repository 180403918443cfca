"""The hybrid: lexicons distilled from the transformer's explanations, added to the feature model.

Lexicons come from explanations of the **training split only** (anything else would leak
test information into the features): for each class, the words with the highest consensus
relevance toward it across seeds, kept when their sign agrees across seeds and they occur
in enough training texts. Each lexicon becomes one feature (its words per 100 tokens). The
same is done with lexicons built from one seed each, to see whether the distribution of
explanations over seeds helps.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import binomtest, chi2

from stablex.config import FeaturesConfig, HybridConfig
from stablex.errors import StablexError
from stablex.features.extract import load_nlp, prepare_text
from stablex.features.lexicons import normalise_word
from stablex.features.model import fit, load_run, scores
from stablex.io import atomic_path, write_json


@dataclass
class WordScores:
    """Mean relevance of each word toward each class, per seed (NaN: no occurrence counted)."""

    seeds: list[int]
    words: list[str]  # normalised forms
    classes: list[str]
    mean: np.ndarray  # S x W x K
    doc_freq: np.ndarray  # W: training texts the word occurs in


@dataclass(frozen=True)
class LexiconEntry:
    source: str  # 'consensus' or 'seed-<s>'
    cls: str
    rank: int
    word: str
    score: float  # consensus (or single-seed) mean relevance toward cls
    sign_consistency: float
    doc_freq: int
    n_seeds: int


# --- reading explanations, with the leakage guard -----------------------------------------

def read_train_explanations(run_dir: Path, explanations_dir: Path, train_ids: set[str]) -> dict[str, np.ndarray]:
    """Columns of every seed-*.parquet; refuses anything but explanations of the training split."""
    summary = explanations_dir / "summary.json"
    if not summary.exists():
        raise StablexError(f"{summary} not found: cannot tell which split {explanations_dir} explains; "
                           f"run `stablex explain RUN --split train`")
    split = json.loads(summary.read_text()).get("split")
    if split != "train":
        raise StablexError(f"{summary}: split is {split!r}; lexicons may only be built from explanations of the "
                           f"training split (run `stablex explain RUN --split train`)")
    files = sorted(explanations_dir.glob("seed-*.parquet"))
    if not files:
        raise StablexError(f"{explanations_dir}: no seed-*.parquet explanations")
    parts: dict[str, list] = {k: [] for k in ("seed", "doc_id", "word", "relevance", "target")}
    for f in files:
        t = pq.read_table(f)
        missing = [c for c in parts if c not in t.column_names]
        if missing:
            raise StablexError(f"{f}: no column(s) {missing}")
        for k in parts:
            parts[k].append(t.column(k).to_numpy(zero_copy_only=False))
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    outside = set(np.unique(cols["doc_id"]).tolist()) - train_ids
    if outside:
        raise StablexError(f"{explanations_dir}: {len(outside)} explained doc_id(s) are not training texts of "
                           f"{run_dir / 'split.parquet'} (first {sorted(outside)[0]!r}); refusing to build a lexicon")
    return cols


def word_scores(cols: dict[str, np.ndarray], classes: list[str]) -> WordScores:
    seeds, s_idx = np.unique(cols["seed"].astype(np.int64), return_inverse=True)
    raw, raw_idx = np.unique(cols["word"].astype(str), return_inverse=True)
    norm = np.array([normalise_word(w) for w in raw])
    words, w_of_raw = np.unique(norm, return_inverse=True)
    w_idx = w_of_raw[raw_idx]
    keep = words[w_idx] != ""
    target = cols["target"].astype(str)
    unknown = sorted(set(np.unique(target).tolist()) - set(classes))
    if unknown:
        raise StablexError(f"explanations: target(s) {unknown} are not classes {classes}")
    rel = cols["relevance"].astype(float)
    S, W, K = len(seeds), len(words), len(classes)
    mean = np.full((S, W, K), np.nan)
    for k, c in enumerate(classes):
        if K == 2:  # relevance toward the other class is relevance against this one
            r, m = np.where(target == c, rel, -rel), keep
        else:
            r, m = rel, keep & (target == c)
        sums, counts = np.zeros((S, W)), np.zeros((S, W))
        np.add.at(sums, (s_idx[m], w_idx[m]), r[m])
        np.add.at(counts, (s_idx[m], w_idx[m]), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, :, k] = np.where(counts > 0, sums / counts, np.nan)
    # documents per word (counted once, whatever the number of seeds)
    pairs = np.unique(np.stack([np.unique(cols["doc_id"], return_inverse=True)[1][keep], w_idx[keep]]), axis=1)
    doc_freq = np.bincount(pairs[1], minlength=W)
    return WordScores(seeds.tolist(), words.tolist(), classes, mean, doc_freq)


def build_lexicons(ws: WordScores, cfg: HybridConfig, seed: int | None = None) -> dict[str, list[LexiconEntry]]:
    """Per class: top words by consensus (or one seed's) relevance, filtered by sign consistency and frequency."""
    if seed is None:
        m, source = ws.mean, "consensus"
    else:
        m, source = ws.mean[[ws.seeds.index(seed)]], f"seed-{seed}"
    n_seeds = np.sum(~np.isnan(m), axis=0)  # W x K
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # words a seed never saw: NaN, not a warning
        score = np.nanmean(m, axis=0)
        consistency = np.where(n_seeds > 0, np.nansum(np.sign(m) == np.sign(score)[None], axis=0) / np.maximum(n_seeds, 1), 0)
    out: dict[str, list[LexiconEntry]] = {}
    for k, c in enumerate(ws.classes):
        ok = (n_seeds[:, k] > 0) & (score[:, k] > 0) & (ws.doc_freq >= cfg.min_freq) & \
             (consistency[:, k] >= cfg.min_sign_consistency)
        cand = np.flatnonzero(ok)
        cand = cand[np.lexsort((np.array(ws.words, dtype=object)[cand], -score[cand, k]))][: cfg.top_words]
        out[c] = [LexiconEntry(source, c, r + 1, ws.words[w], float(score[w, k]), float(consistency[w, k]),
                               int(ws.doc_freq[w]), int(n_seeds[w, k])) for r, w in enumerate(cand)]
    return out


# --- lexicon features and the comparison --------------------------------------------------

def tokenize(texts: list[str], model: str) -> list[list[str]]:
    """Normalised forms of spaCy's tokens (the same tokens the features count)."""
    tok = load_nlp(model).tokenizer
    return [[normalise_word(t.text) for t in doc if not t.is_space] for doc in tok.pipe(prepare_text(x) for x in texts)]


def lexicon_matrix(tokens: list[list[str]], lexicons: dict[str, list[LexiconEntry]],
                   individual_words: int = 0) -> tuple[np.ndarray, list[str]]:
    """Texts x (one column per lexicon + optional single-word columns), per 100 tokens."""
    columns: list[tuple[str, frozenset[str]]] = []
    for c, entries in lexicons.items():
        columns.append((f"lexicon_{c}", frozenset(e.word for e in entries)))
    for c, entries in lexicons.items():
        columns += [(f"word_{c}_{e.rank}", frozenset({e.word})) for e in entries[:individual_words]]
    X = np.zeros((len(tokens), len(columns)))
    for i, toks in enumerate(tokens):
        if toks:
            for j, (_, words) in enumerate(columns):
                X[i, j] = 100.0 * sum(t in words for t in toks) / len(toks)
    return X, [name for name, _ in columns]


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """b: only A right; c: only B right. Exact binomial p and chi-square with continuity correction."""
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    if b + c == 0:
        return {"b": b, "c": c, "p_exact": 1.0, "p_chi2": 1.0}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "p_exact": float(binomtest(c, b + c, 0.5).pvalue), "p_chi2": float(chi2.sf(stat, 1))}


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    """Accuracy of B minus A with a paired bootstrap interval over test texts."""
    diff = correct_b.astype(float) - correct_a.astype(float)
    rng = np.random.default_rng(seed)
    boots = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n_boot)]) if n_boot else np.array([])
    ci = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))] if n_boot else None
    return {"difference": float(diff.mean()), "ci": ci, "mcnemar": mcnemar(correct_a, correct_b)}


@dataclass
class HybridResult:
    base: dict[str, float]
    consensus: dict
    single_seed: list[dict]
    lexicons: dict[str, list[LexiconEntry]]
    paths: dict[str, Path] = field(default_factory=dict)


def run_hybrid(run_dir: str | Path, config: HybridConfig, explanations_dir: str | Path,
               features: FeaturesConfig | None = None) -> HybridResult:
    """Build lexicons from training-split explanations, retrain the feature model with them, compare on test."""
    run_dir, explanations_dir = Path(run_dir), Path(explanations_dir)
    features = features or FeaturesConfig()
    for name in ("top_words", "min_freq", "bootstrap", "individual_words"):
        if getattr(config, name) < 0:
            raise StablexError(f"option [hybrid] {name} must be >= 0")
    if not 0 <= config.min_sign_consistency <= 1:
        raise StablexError("option [hybrid] min_sign_consistency must lie in [0, 1]")
    data = load_run(run_dir)
    train, test = data.rows("train"), data.rows("test")
    cols = read_train_explanations(run_dir, explanations_dir, set(data.doc_ids[train].tolist()))
    ws = word_scores(cols, data.classes)
    tokens = tokenize([data.texts[i] for i in np.concatenate([train, test])], features.spacy_model)
    rows = np.concatenate([train, test])
    y_test = data.y[test]

    base = fit(data.X[train], data.y[train], data.names, data.classes, features.C)
    base_correct = base.predict(data.X[test]) == y_test

    def evaluate(lexicons: dict[str, list[LexiconEntry]]) -> tuple[dict, np.ndarray]:
        L, names = lexicon_matrix(tokens, lexicons, config.individual_words)
        X = np.hstack([data.X[rows], L])
        m = fit(X[: len(train)], data.y[train], data.names + names, data.classes, features.C)
        pred = m.predict(X[len(train):])
        res = scores(y_test, pred)
        res["n_words"] = {c: len(v) for c, v in lexicons.items()}
        res["added_features"] = names
        res["coef_added"] = {n: m.coef[:, len(data.names) + j].tolist() for j, n in enumerate(names)}
        return res, pred == y_test

    lexicons = build_lexicons(ws, config)
    consensus, cons_correct = evaluate(lexicons)
    consensus["vs_base"] = paired_difference(base_correct, cons_correct, config.bootstrap)
    all_entries = [e for v in lexicons.values() for e in v]
    single = []
    if config.single_seed:
        for s in ws.seeds:
            lex_s = build_lexicons(ws, config, seed=s)
            res, correct = evaluate(lex_s)
            res["seed"] = s
            res["vs_base"] = paired_difference(base_correct, correct, config.bootstrap)
            res["consensus_vs_this"] = paired_difference(correct, cons_correct, config.bootstrap)
            single.append(res)
            all_entries += [e for v in lex_s.values() for e in v]
    base_scores = scores(y_test, base.predict(data.X[test]))
    summary = None
    if single:
        acc = np.array([r["accuracy"] for r in single])
        summary = {"mean_accuracy": float(acc.mean()), "min_accuracy": float(acc.min()),
                   "max_accuracy": float(acc.max()),
                   "consensus_minus_mean": float(consensus["accuracy"] - acc.mean()),
                   "seeds_below_consensus": int(np.sum(acc < consensus["accuracy"]))}
    out = run_dir / "hybrid"
    metrics_path, lexicon_path = out / "metrics.json", out / "lexicon.csv"
    write_json(metrics_path, {
        "explanations": str(explanations_dir), "split_explained": "train", "seeds": ws.seeds,
        "config": asdict(config), "n_train": int(len(train)), "n_test": int(len(test)),
        "base": base_scores, "consensus": consensus, "single_seed": single, "single_seed_summary": summary,
        "notes": "accuracies on the test split; difference = with lexicon features minus without, paired "
                 "bootstrap 95% interval over test texts; McNemar b = only the first right, c = only the second",
    })
    with atomic_path(lexicon_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "class", "rank", "word", "score", "sign_consistency", "doc_freq", "n_seeds"])
        for e in all_entries:
            w.writerow([e.source, e.cls, e.rank, e.word, f"{e.score:.6g}", f"{e.sign_consistency:.3f}",
                        e.doc_freq, e.n_seeds])
    return HybridResult(base_scores, consensus, single, lexicons, {"metrics": metrics_path, "lexicon": lexicon_path})
