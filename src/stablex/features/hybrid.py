"""The hybrid: lexicons distilled from the transformer's explanations, added to the feature model.

Lexicons come from explanations of the **training split only** (anything else would leak
test information into the features), and only the explained training texts count (the
explain stage may explain a stratified sample of them). Three variants (features/selection.py)
have their settings chosen by cross-validation on the training split; then, once, the
feature model and every variant are scored on the run's test split and on a large
held-out pool of corpus texts the run never used (features/pool.py), each with the paired
difference to the feature model, its bootstrap interval and McNemar's test
(features/compare.py). The chosen variant is also rebuilt from one seed's explanations at a
time: does the distribution of explanations over seeds help?
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from stablex.config import FeaturesConfig, HybridConfig
from stablex.errors import StablexError
from stablex.features.compare import compare, paired_difference, wilson
from stablex.features.matching import ExplanationStats, LexiconEntry, WordCounts, count_words, match_rate
from stablex.features.model import RunData, fit, load_run, one_blas_thread, scores
from stablex.features.pool import Pool, build_pool
from stablex.features.selection import Grid, HybridClassifier, TrainingData, choose
from stablex.io import atomic_path, write_json
from stablex.rundir import Run

# --- reading explanations, with the leakage guard -----------------------------------------


def read_train_explanations(run_dir: Path, explanations_dir: Path, train_ids: set[str]) -> dict[str, np.ndarray]:
    """Columns of every seed-*.parquet; refuses anything but explanations of the training split."""
    summary = explanations_dir / "summary.json"  # the folder is Run.explanations_dir(method, "train")
    if not summary.exists():
        raise StablexError(
            f"{summary} not found: cannot tell which split {explanations_dir} explains; "
            f"run `stablex explain RUN --split train`"
        )
    split = json.loads(summary.read_text()).get("split")
    if split != "train":
        raise StablexError(
            f"{summary}: split is {split!r}; lexicons may only be built from explanations of the "
            f"training split (run `stablex explain RUN --split train`)"
        )
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
        raise StablexError(
            f"{explanations_dir}: {len(outside)} explained doc_id(s) are not training texts of "
            f"{Run(run_dir).split_path} (first {sorted(outside)[0]!r}); refusing to build a lexicon"
        )
    return cols


# --- settings and the choice (training split only) -----------------------------------------


def validate(config: HybridConfig) -> None:
    """Nothing left to check: a HybridConfig checks itself when made (config.py)."""


def training_data(data: RunData, train: np.ndarray, stats: ExplanationStats) -> TrainingData:
    position = {d: i for i, d in enumerate(stats.doc_ids)}
    explained = np.array([position.get(d, -1) for d in data.doc_ids[train]], dtype=np.int64)
    words = count_words([data.texts[i] for i in train], stats.words)
    return TrainingData(data.X[train], words, explained, stats)


def select(td: TrainingData, y: np.ndarray, config: HybridConfig, C: float) -> dict:
    """Chosen settings per variant (cross-validated, or fixed when cv_folds = 0), with fitted estimators."""
    variants = [v for v in config.variants if config.cv_folds or v != "words" or config.individual_words]
    if config.cv_folds:
        grid = Grid(config.top_words_grid, config.min_freq_grid, config.sign_consistency_grid, config.n_words_grid)
        return choose(td, y, variants, grid, config.cv_folds, C)
    rows = np.arange(len(y)).reshape(-1, 1)
    out = {
        "cv": None,
        "variants": {},
        "estimators": {},
        "chosen": variants[0],
        "note": "cv_folds = 0: fixed settings from [hybrid], no choice made",
    }
    for v in variants:
        est = HybridClassifier(
            td, v, config.top_words, config.min_freq, config.min_sign_consistency, config.individual_words, C=C
        ).fit(rows, y)
        out["variants"][v] = {"params": {k: est.get_params()[k] for k in Grid([], [], [], []).for_variant(v)}}
        out["estimators"][v] = est
    return out


# --- held-out figures (computed once, after the choice) ------------------------------------


@dataclass
class Evaluation:
    """One set of held-out texts: its name, labels, base features, word counts, base predictions."""

    pool: str  # 'test' or 'held_out'
    y: np.ndarray
    X: np.ndarray
    words: WordCounts
    base_pred: np.ndarray


def evaluate(est: HybridClassifier, sets: list[Evaluation], n_boot: int) -> tuple[dict, dict]:
    """Comparisons per set, and each set's correctness vector (for the paired seed comparisons)."""
    out, correct = {}, {}
    for e in sets:
        pred = est.predict_texts(e.X, e.words)
        out[e.pool] = compare(e.pool, e.y, e.base_pred, pred, n_boot)
        correct[e.pool] = pred == e.y
    return out, correct


def evaluate_variants(
    estimators: dict[str, HybridClassifier], selection: dict, sets: list[Evaluation], n_base: int, n_boot: int
) -> tuple[dict, dict]:
    """Every variant's record (settings, added columns and coefficients, comparisons per pool)."""
    variants, correct = {}, {}
    for v, est in estimators.items():
        t0 = time.perf_counter()
        res, correct[v] = evaluate(est, sets, n_boot)
        names = est.added_names()
        coef = est.pipeline_[-1].coef_
        variants[v] = {
            "params": selection["variants"][v]["params"],
            "added_features": names,
            "coef_added": {n: coef[:, n_base + j].tolist() for j, n in enumerate(names)},
            "n_words": {c: len(e) for c, e in est.lexicons_.items()},
            **res,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    return variants, correct


def single_seeds(
    best: HybridClassifier,
    td: TrainingData,
    y: np.ndarray,
    sets: list[Evaluation],
    consensus_correct: dict,
    n_boot: int,
) -> tuple[list[dict], list[LexiconEntry], dict]:
    """The chosen variant with its lexicons from one seed at a time, against the consensus on the same texts."""
    rows, out, entries = np.arange(len(y)).reshape(-1, 1), [], []
    for s in td.stats.seeds:
        est = HybridClassifier(**{**best.get_params(), "seed": s}).fit(rows, y)
        res, correct = evaluate(est, sets, n_boot)
        for e in sets:
            res[e.pool]["consensus_vs_this"] = paired_difference(correct[e.pool], consensus_correct[e.pool], n_boot)
        out.append({"seed": s, **res})
        entries += [x for v in est.lexicons_.values() for x in v]
    summary = {}
    for e in sets:
        acc = np.array([r[e.pool]["accuracy"] for r in out])
        cons = float(np.mean(consensus_correct[e.pool]))
        summary[e.pool] = {
            "mean_accuracy": float(acc.mean()),
            "min_accuracy": float(acc.min()),
            "max_accuracy": float(acc.max()),
            "consensus_accuracy": cons,
            "consensus_minus_mean": float(cons - acc.mean()),
            "seeds_below_consensus": int(np.sum(acc < cons)),
        }
    return out, entries, summary


def matching_record(entries: list[LexiconEntry], vocabulary: list[str], pool: Pool, words: WordCounts) -> dict:
    """Share of the lexicons' words found in the pool by the matching rule (why not lone spaCy
    tokens is shown by a test on real texts, not re-measured on every run)."""
    return {
        "rule": "words cut as the explanations cut them (explain/words.py), forms by "
        "lexicons.normalise_word; see docs/features.md, Matching",
        "pool": "held_out" if len(pool.y) else None,
        **match_rate(entries, vocabulary, words),
    }


@dataclass
class HybridResult:
    base: dict[str, float]  # the feature model on the test split
    consensus: dict  # the chosen variant with consensus lexicons: test figures (n, accuracy + Wilson interval),
    # 'pool' = its held-out figures
    single_seed: list[dict]
    lexicons: dict[str, list[LexiconEntry]]  # the chosen variant's
    selection: dict
    variants: dict
    paths: dict[str, Path] = field(default_factory=dict)


def run_hybrid(
    run_dir: str | Path, config: HybridConfig, explanations_dir: str | Path, features: FeaturesConfig | None = None
) -> HybridResult:
    """Lexicons from training-split explanations; variants chosen by CV on the training split; then
    the feature model and each variant scored once on the test split and on the held-out pool."""
    run_dir, explanations_dir = Path(run_dir), Path(explanations_dir)
    features = features or FeaturesConfig()
    validate(config)
    data = load_run(run_dir)
    train, test = data.rows("train"), data.rows("test")
    cols = read_train_explanations(run_dir, explanations_dir, set(data.doc_ids[train].tolist()))
    stats = ExplanationStats.from_columns(cols, data.classes)
    td, y_train = training_data(data, train, stats), data.y[train]
    t0 = time.perf_counter()
    with one_blas_thread():  # hundreds of small fits
        selection = select(td, y_train, config, features.C)  # reads the training split only
    cost = {"selection_seconds": round(time.perf_counter() - t0, 2)}
    estimators = selection.pop("estimators")

    base = fit(data.X[train], y_train, data.names, data.classes, features.C)
    pool = build_pool(run_dir, data, config.pool_size, config.pool_seed, features)
    t0 = time.perf_counter()
    pool_words = count_words(pool.texts, stats.words)
    cost["pool_lexicon_counts_seconds"] = round(time.perf_counter() - t0, 3)
    sets = [
        Evaluation(
            "test",
            data.y[test],
            data.X[test],
            count_words([data.texts[i] for i in test], stats.words),
            base.predict(data.X[test]),
        )
    ]
    if len(pool.y):
        sets.append(Evaluation("held_out", pool.y, pool.X, pool_words, base.predict(pool.X)))

    variants, correct = evaluate_variants(estimators, selection, sets, len(data.names), config.bootstrap)
    chosen = selection["chosen"]
    best = estimators[chosen]
    with one_blas_thread():
        single, seed_entries, summary = (
            single_seeds(best, td, y_train, sets, correct[chosen], config.bootstrap)
            if config.single_seed
            else ([], [], None)
        )
    entries = [e for v in estimators.values() for x in v.lexicons_.values() for e in x]
    matching = matching_record(entries, stats.words, pool, pool_words)
    cost.update(pool.record.pop("seconds"))
    cost["pool_texts"] = len(pool.y)
    test_scores = scores(sets[0].y, sets[0].base_pred)
    consensus = {
        "variant": chosen,
        **{k: variants[chosen]["test"][k] for k in ("n", "accuracy", "accuracy_ci", "macro_f1", "vs_base")},
        "pool": variants[chosen].get("held_out"),
    }
    record = {
        "explanations": str(explanations_dir),
        "split_explained": "train",
        "seeds": stats.seeds,
        "config": asdict(config),
        "n_train": int(len(train)),
        "n_train_explained": len(stats.doc_ids),
        "n_test": int(len(test)),
        "n_pool": len(pool.y),
        "pool": pool.record,
        "matching": matching,
        "selection": selection,
        "chosen": chosen,
        "base": {**test_scores, "pool": base_record(sets[1]) if len(sets) > 1 else None},
        "consensus": consensus,
        "variants": variants,
        "single_seed": single,
        "single_seed_summary": summary,
        "cost": cost,
        "notes": "Each comparison names its pool: 'test' = the run's test split, 'held_out' = corpus texts outside "
        "split.parquet (pool). difference = variant minus feature model, paired percentile bootstrap 95% "
        "interval over texts; McNemar b = texts only the feature model gets right, c = only the variant; "
        "settings chosen by cross-validation on the training split before any held-out figure.",
    }
    chosen_entries = [e for x in best.lexicons_.values() for e in x]
    return write_outputs(
        run_dir,
        record,
        chosen_entries + seed_entries,
        test_scores,
        consensus,
        single,
        best.lexicons_,
        selection,
        variants,
    )


def base_record(e: Evaluation) -> dict:
    """The feature model alone on one set of texts."""
    ok = e.base_pred == e.y
    return {
        "pool": e.pool,
        "n": int(len(e.y)),
        "accuracy": float(ok.mean()),
        "accuracy_ci": wilson(ok),
        "macro_f1": scores(e.y, e.base_pred)["macro_f1"],
    }


def write_outputs(
    run_dir: Path,
    record: dict,
    entries: list[LexiconEntry],
    base: dict,
    consensus: dict,
    single: list[dict],
    lexicons: dict,
    selection: dict,
    variants: dict,
) -> HybridResult:
    """metrics.json, and lexicon.csv: the chosen variant's consensus lexicons, then its single-seed ones."""
    metrics_path, lexicon_path = Run(run_dir).hybrid_metrics_path, Run(run_dir).hybrid_lexicon_path
    write_json(metrics_path, record)
    with atomic_path(lexicon_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "class", "rank", "word", "score", "sign_consistency", "doc_freq", "n_seeds"])
        for e in entries:
            w.writerow(
                [e.source, e.cls, e.rank, e.word, f"{e.score:.6g}", f"{e.sign_consistency:.3f}", e.doc_freq, e.n_seeds]
            )
    return HybridResult(
        base, consensus, single, lexicons, selection, variants, {"metrics": metrics_path, "lexicon": lexicon_path}
    )
