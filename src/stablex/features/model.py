"""The feature model: standardised features + logistic regression, and its word map.

Word map (the study's token map, made additive): the model's logit toward class t is
b_t + sum_j w_tj (f_j - m_j) / s_j. Every feature value f_j is a sum of per-token weights
(definitions.py), so token i receives sum_j w_tj * weight_ij / s_j: the coefficient times
its share of each feature it triggers. The relevances of a text sum to its logit minus the
constant b_t - sum_j w_tj m_j / s_j. For two classes the logit toward t is the log-odds of
t against the other class (sign flipped for class 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.definitions import DocView, FeatureSet, default_feature_set
from stablex.features.extract import parse, read_features, read_split
from stablex.io import read_json, write_json, write_parquet
from stablex.records import SeedMetrics
from stablex.rundir import FEATURE_MODEL, Run
from stablex.train.seeds import bootstrap_indices


@dataclass
class FittedModel:
    names: list[str]
    classes: list[str]
    mean: np.ndarray  # F
    scale: np.ndarray  # F
    coef: np.ndarray  # K x F, toward each class, on standardised features
    intercept: np.ndarray  # K

    def logits(self, X: np.ndarray) -> np.ndarray:
        """n x K: logit toward each class (two classes: +-log-odds)."""
        return ((X - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.logits(X).argmax(axis=1)


def pipeline(C: float = 1.0, random_state: int = 0) -> Pipeline:
    """The feature model: StandardScaler (a constant feature keeps scale 1, so stays at zero) +
    logistic regression; the hybrid's variants (features/selection.py) fit the same one."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, random_state=random_state))


def one_blas_thread():
    """Context for loops of many small fits (bootstrap refits, the hybrid's cross-validation):
    OpenBLAS threads cost far more than they give on a few hundred rows x ~20 features
    (lbfgs 12-18x slower with 2 threads than with 1 on the 2-core machine, same coefficients)."""
    return threadpool_limits(1, user_api="blas")


def fit(
    X: np.ndarray, y: np.ndarray, names: list[str], classes: list[str], C: float = 1.0, random_state: int = 0
) -> FittedModel:
    if len(np.unique(y)) < 2:
        raise StablexError("the training rows hold a single class: cannot fit the feature model")
    pipe = pipeline(C, random_state).fit(X, y)
    scaler, lr = pipe[0], pipe[-1]
    mean, scale = scaler.mean_.copy(), scaler.scale_.copy()
    K = len(classes)
    coef = np.zeros((K, X.shape[1]))
    intercept = np.zeros(K)
    if len(lr.classes_) == 2 and K == 2:
        coef[1], coef[0] = lr.coef_[0], -lr.coef_[0]
        intercept[1], intercept[0] = lr.intercept_[0], -lr.intercept_[0]
    else:
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
        missing = np.setdiff1d(np.arange(K), lr.classes_)
        intercept[missing] = -np.inf  # a class absent from training is never predicted
    return FittedModel(names, classes, mean, scale, coef, intercept)


# --- run-directory data -------------------------------------------------------------------


@dataclass
class RunData:
    doc_ids: np.ndarray
    split: np.ndarray
    texts: list[str]
    y: np.ndarray  # class ids
    X: np.ndarray  # features, rows aligned with split.parquet
    names: list[str]
    classes: list[str]

    def rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)


def load_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    table = read_split(run_dir)
    doc_ids = table.column("doc_id").to_pylist()
    labels = table.column("label").to_pylist()
    run = Run(run_dir)
    classes = run.classes()
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise StablexError(f"{run.split_path}: labels {unknown} not in manifest.json classes {classes}")
    f_ids, names, values = read_features(run_dir)
    pos = {d: i for i, d in enumerate(f_ids)}
    missing = [d for d in doc_ids if d not in pos]
    if missing:
        raise StablexError(
            f"features.parquet lacks {len(missing)} doc_id(s) of split.parquet "
            f"(first {missing[0]!r}): re-run `stablex features`"
        )
    X = values[[pos[d] for d in doc_ids]]
    return RunData(
        np.asarray(doc_ids, dtype=object),
        np.asarray(table.column("split").to_pylist()),
        table.column("text").to_pylist(),
        np.array([index[lab] for lab in labels]),
        X,
        names,
        classes,
    )


@dataclass(frozen=True)
class SeedDraw:
    seed: int
    data_seed: int | None  # None: the whole training split


def transformer_draws(run_dir: Path) -> list[SeedDraw]:
    """The transformer's seeds, with the bootstrap draw each was trained on (if any)."""
    draws = []
    run = Run(run_dir)
    for metrics in (run.seed_metrics_path(s) for s in run.trained_seeds()):
        m = SeedMetrics.from_dict(read_json(metrics), metrics)
        if m.bootstrap and m.data_seed is None:
            raise StablexError(f"{metrics}: bootstrap is true but key 'data_seed' is missing")
        draws.append(SeedDraw(m.seed, m.data_seed if m.bootstrap else None))
    return sorted(draws, key=lambda d: d.seed)


def train_rows(data: RunData, draw: SeedDraw) -> np.ndarray:
    rows = data.rows("train")
    return rows if draw.data_seed is None else rows[bootstrap_indices(len(rows), draw.data_seed)]


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro"))}


# --- word map -----------------------------------------------------------------------------


def resolve_targets(target: str, classes: list[str], y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    if target == "predicted":
        return pred
    if target == "label":
        return y
    if target in classes:
        return np.full(len(y), classes.index(target))
    raise StablexError(f"[features] target = {target!r}: use predicted, label or one of {classes}")


def word_map(
    model: FittedModel,
    feature_set: FeatureSet,
    seed: int,
    doc_ids: list[str],
    texts: list[str],
    views: list[DocView],
    X: np.ndarray,
    targets: np.ndarray,
) -> pa.Table:
    """The long explanation table (run-directory schema) of `model` over the given texts.

    Words are spaCy tokens (spaces dropped), as written in `texts` (offsets = token.idx)."""
    logits = model.logits(X)
    pred = logits.argmax(axis=1)
    cols: dict[str, list] = {
        k: [] for k in ("doc_id", "word_index", "word", "start", "end", "relevance", "target", "pred", "logit")
    }
    for d, text, view, t, p, lg in zip(doc_ids, texts, views, targets, pred, logits):
        if not view.n:
            continue
        rel = feature_set.token_weights(view) @ (model.coef[t] / model.scale)
        n = view.n
        cols["doc_id"] += [d] * n
        cols["word_index"] += list(range(n))
        ends = [i + len(w) for i, w in zip(view.idx, view.text)]
        cols["word"] += [text[a:b] for a, b in zip(view.idx, ends)]
        cols["start"] += view.idx
        cols["end"] += ends
        cols["relevance"] += rel.tolist()
        cols["target"] += [model.classes[t]] * n
        cols["pred"] += [model.classes[p]] * n
        cols["logit"] += [float(lg[t])] * n
    n_rows = len(cols["doc_id"])
    return pa.table(
        {
            "seed": pa.array(np.full(n_rows, seed, dtype=np.int32)),
            "doc_id": pa.array(cols["doc_id"], pa.string()),
            "word_index": pa.array(cols["word_index"], pa.int32()),
            "word": pa.array(cols["word"], pa.string()),
            "start": pa.array(cols["start"], pa.int32()),
            "end": pa.array(cols["end"], pa.int32()),
            "relevance": pa.array(cols["relevance"], pa.float32()),
            "target": pa.array(cols["target"], pa.string()),
            "pred": pa.array(cols["pred"], pa.string()),
            "logit": pa.array(cols["logit"], pa.float32()),
        }
    )


def parse_views(texts: list[str], config: FeaturesConfig) -> list[DocView]:
    return [DocView.from_doc(d) for d in parse(texts, config.spacy_model, config.batch_size, config.n_process)]


# --- the stage ----------------------------------------------------------------------------


@dataclass
class FeatureModelResult:
    metrics: dict[str, dict[str, float]]  # split -> accuracy, macro_f1 (full training split)
    majority_rate: float  # test share of the training split's majority class
    coefficients: list[dict]  # name, description, coef per class, bootstrap interval
    seeds: list[int]  # seeds with a word map
    resampled: bool  # True when the seeds' word maps come from bootstrap draws
    paths: dict[str, Path] = field(default_factory=dict)


def bootstrap_coefficients(data: RunData, rows: np.ndarray, n_boot: int, C: float, seed: int = 0) -> np.ndarray:
    """n_boot x K x F standardised coefficients refitted on bootstrap draws of `rows`."""
    rng = np.random.default_rng(seed)
    out = []
    with one_blas_thread():
        for _ in range(n_boot):
            r = rows[rng.integers(0, len(rows), size=len(rows))]
            if len(np.unique(data.y[r])) < 2:
                continue
            out.append(fit(data.X[r], data.y[r], data.names, data.classes, C).coef)
    return np.array(out)


def _coefficients(data: RunData, model: FittedModel, feature_set: FeatureSet, boots: np.ndarray) -> list[dict]:
    """Each feature's standardised coefficient toward each class, with its bootstrap interval."""
    out = []
    for j, name in enumerate(data.names):
        feat = feature_set.features[j]
        entry = {"name": name, "description": feat.description, "why": feat.why}
        for k, c in enumerate(data.classes):
            entry[f"coef_{c}"] = float(model.coef[k, j])
            if len(boots):
                entry[f"ci_{c}"] = [
                    float(np.quantile(boots[:, k, j], 0.025)),
                    float(np.quantile(boots[:, k, j], 0.975)),
                ]
        out.append(entry)
    return out


def _draws(run_dir: Path, seeds: list[int] | None) -> list[SeedDraw]:
    """The seeds that get a word map, each with the training draw its transformer used."""
    draws = transformer_draws(run_dir)
    if seeds is not None:
        known = {d.seed: d for d in draws}
        draws = [known.get(s, SeedDraw(s, None)) for s in seeds]
    return draws or [SeedDraw(0, None)]


def _write_word_maps(
    run: Run, data: RunData, model: FittedModel, feature_set: FeatureSet, draws: list[SeedDraw], config: FeaturesConfig
) -> dict[str, Path]:
    """explanations/features/seed-<seed>.parquet: the model fitted on each seed's draw, as word maps."""
    ex_rows = data.rows(config.explain_split)
    if len(ex_rows) == 0:
        raise StablexError(f"[features] explain_split = {config.explain_split!r}: no such rows in split.parquet")
    views = parse_views([data.texts[i] for i in ex_rows], config)
    paths: dict[str, Path] = {}
    for draw in draws:
        m = (
            model
            if draw.data_seed is None
            else fit(data.X[train_rows(data, draw)], data.y[train_rows(data, draw)], data.names, data.classes, config.C)
        )
        pred = m.predict(data.X[ex_rows])
        targets = resolve_targets(config.target, data.classes, data.y[ex_rows], pred)
        table = word_map(
            m,
            feature_set,
            draw.seed,
            list(data.doc_ids[ex_rows]),
            [data.texts[i] for i in ex_rows],
            views,
            data.X[ex_rows],
            targets,
        )
        paths[f"seed-{draw.seed}"] = run.explanation_path(FEATURE_MODEL, draw.seed)
        write_parquet(paths[f"seed-{draw.seed}"], table)
    return paths


def fit_feature_model(
    run_dir: str | Path, config: FeaturesConfig, seeds: list[int] | None = None, feature_set: FeatureSet | None = None
) -> FeatureModelResult:
    """Fit on the train split, score on validation/test, write coefficients and word maps.

    One word map per transformer seed (`seeds`, default: those under RUN/seeds/, else [0]);
    a seed trained on a bootstrap draw gets the feature model fitted on the same draw.
    """
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    feature_set = feature_set or default_feature_set(config)
    if feature_set.names != data.names:
        raise StablexError(
            f"{Run(run_dir).features_path}: columns {data.names} differ from the "
            f"feature set {feature_set.names}; re-run `stablex features`"
        )
    train = data.rows("train")
    if len(train) == 0 or len(data.rows("test")) == 0:
        raise StablexError(f"{Run(run_dir).split_path}: needs train and test rows")
    model = fit(data.X[train], data.y[train], data.names, data.classes, config.C)
    metrics = {}
    for name in ("train", "validation", "test"):
        rows = data.rows(name)
        if len(rows):
            metrics[name] = scores(data.y[rows], model.predict(data.X[rows]))
    majority = int(np.bincount(data.y[train], minlength=len(data.classes)).argmax())
    majority_rate = float(np.mean(data.y[data.rows("test")] == majority))
    coefficients = _coefficients(
        data, model, feature_set, bootstrap_coefficients(data, train, config.bootstrap, config.C)
    )
    draws = _draws(run_dir, seeds)
    resampled = any(d.data_seed is not None for d in draws)
    run = Run(run_dir)
    paths = _write_word_maps(run, data, model, feature_set, draws, config)
    write_json(
        run.explanations_summary_path(FEATURE_MODEL),
        {
            "method": FEATURE_MODEL,
            "split": config.explain_split,
            "target": config.target,
            "seeds": [d.seed for d in draws],
            "resampled": resampled,
            "deterministic_under_seeds": True,
            "note": "logistic regression (lbfgs) is deterministic: seeds change its word map only through "
            "the bootstrap draw of the training split",
            "words": "spaCy fr_core_news_sm tokens (punctuation and elided « l' » are words), offsets = token.idx",
        },
    )
    model_json = run.feature_model_path
    write_json(
        model_json,
        {
            "features": data.names,
            "classes": data.classes,
            "C": config.C,
            "bootstrap": config.bootstrap,
            "metrics": metrics,
            "majority_rate": majority_rate,
            "n_train": int(len(train)),
            "coefficients": coefficients,
            "scaler": {"mean": model.mean.tolist(), "scale": model.scale.tolist()},
            "intercept": model.intercept.tolist(),
        },
    )
    paths["model"] = model_json
    return FeatureModelResult(metrics, majority_rate, coefficients, [d.seed for d in draws], resampled, paths)
