"""The hybrid's variants as one scikit-learn estimator, and their settings chosen by cross-validation.

`HybridClassifier` is fitted on rows of the training split only (X holds row numbers into
`TrainingData`): it rebuilds its lexicons from the explanations of the explained texts
among those rows, so inside a `StratifiedKFold` fold the lexicon never sees the fold's
held-out texts. `choose` runs one `GridSearchCV` per variant on the training split; it is
given no other data, so the choice cannot read the test split or the held-out pool.

Variants (each adds its columns to the 19 features, then StandardScaler + LogisticRegression):
- counts: per class, the lexicon's words per 100 words of the text;
- weighted: per class, the sum of the matched words' relevance (consensus, or the seed's)
  per 100 words;
- words: each class's top N words, each a count per 100 words of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from stablex.config_checks import VARIANTS
from stablex.features.matching import ExplanationStats, LexiconEntry, LexiconSettings, WordCounts, build_lexicons
from stablex.features.model import pipeline


@dataclass
class TrainingData:
    """What a fit may read: the training split's features and word counts, and its explanations."""

    X: np.ndarray  # n_train x F base features
    words: WordCounts  # n_train x vocabulary
    explained: np.ndarray  # n_train: row of the text in `stats`, -1 when not explained
    stats: ExplanationStats

    def __deepcopy__(self, memo):  # read-only: clone() shares it instead of copying it per fit
        return self


def lexicon_columns(
    variant: str, lexicons: dict[str, list[LexiconEntry]], vocabulary: dict[str, int], words: WordCounts
) -> tuple[np.ndarray, list[str]]:
    """Texts x added columns of one variant, per 100 words."""
    per100 = 100.0 / np.maximum(words.n_words, 1)
    cols, names = [], []
    for c, entries in lexicons.items():
        ids = np.array([vocabulary[e.word] for e in entries], dtype=np.int64)
        if variant == "words":
            for e, j in zip(entries, ids):
                cols.append(words.counts[:, j].toarray().ravel() * per100)
                names.append(f"word_{c}_{e.rank}")
            continue
        weights = np.ones(len(ids)) if variant == "counts" else np.array([e.score for e in entries])
        cols.append(words.counts[:, ids] @ weights * per100 if len(ids) else np.zeros(len(per100)))
        names.append(f"lexicon_{c}" if variant == "counts" else f"relevance_{c}")
    X = np.column_stack(cols) if cols else np.zeros((len(per100), 0))
    return X, names


class HybridClassifier(ClassifierMixin, BaseEstimator):
    """Feature model + lexicon columns, the lexicons rebuilt from the explained rows of each fit."""

    def __init__(
        self,
        data: TrainingData | None = None,
        variant: str = "counts",
        top_words: int = 50,
        min_freq: int = 5,
        min_sign_consistency: float = 0.8,
        n_words: int = 10,
        seed: int | None = None,
        C: float = 1.0,
    ):
        self.data, self.variant, self.top_words, self.min_freq = data, variant, top_words, min_freq
        self.min_sign_consistency, self.n_words, self.seed, self.C = min_sign_consistency, n_words, seed, C

    def settings(self) -> LexiconSettings:
        size = self.n_words if self.variant == "words" else self.top_words
        return LexiconSettings(size, self.min_freq, self.min_sign_consistency)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "HybridClassifier":
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {self.variant!r}")
        rows = np.asarray(X)[:, 0].astype(np.int64)
        docs = self.data.explained[rows]
        ws = self.data.stats.word_scores(np.unique(docs[docs >= 0]), seed=self.seed)
        self.lexicons_ = build_lexicons(ws, self.settings(), "consensus" if self.seed is None else f"seed-{self.seed}")
        self.vocabulary_ = {w: j for j, w in enumerate(self.data.stats.words)}
        self.pipeline_ = pipeline(self.C)
        self.pipeline_.fit(self.features(self.data.X[rows], self.data.words.rows(rows)), y)
        self.classes_ = self.pipeline_.classes_
        return self

    def features(self, X: np.ndarray, words: WordCounts) -> np.ndarray:
        """The base features with this fit's lexicon columns appended (any texts)."""
        return np.hstack([X, lexicon_columns(self.variant, self.lexicons_, self.vocabulary_, words)[0]])

    def added_names(self) -> list[str]:
        empty = WordCounts(self.data.words.counts[:0], np.zeros(0))
        return lexicon_columns(self.variant, self.lexicons_, self.vocabulary_, empty)[1]

    def predict_texts(self, X: np.ndarray, words: WordCounts) -> np.ndarray:
        return self.pipeline_.predict(self.features(X, words))

    def predict(self, X: np.ndarray) -> np.ndarray:
        rows = np.asarray(X)[:, 0].astype(np.int64)
        return self.predict_texts(self.data.X[rows], self.data.words.rows(rows))


@dataclass
class Grid:
    top_words: list[int]
    min_freq: list[int]
    min_sign_consistency: list[float]
    n_words: list[int]

    def for_variant(self, variant: str) -> dict[str, list]:
        size = {"n_words": self.n_words} if variant == "words" else {"top_words": self.top_words}
        return {**size, "min_freq": self.min_freq, "min_sign_consistency": self.min_sign_consistency}


def choose(
    data: TrainingData, y: np.ndarray, variants: list[str], grid: Grid, folds: int, C: float, seed: int = 0
) -> dict:
    """Per variant, the grid point with the best cross-validated accuracy on the training split.

    Returns the record written to metrics.json and, under 'estimators', each variant's
    estimator refitted on the whole training split with its chosen settings."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = np.arange(len(y)).reshape(-1, 1)
    base = cross_val_score(pipeline(C), data.X, y, cv=cv, scoring="accuracy")
    out = {
        "cv": f"StratifiedKFold(n_splits={folds}, shuffle=True, random_state={seed}) on the training split",
        "scoring": "accuracy",
        "base_cv_accuracy": float(base.mean()),
        "base_cv_sd": float(base.std()),
        "variants": {},
        "estimators": {},
    }
    for v in variants:
        search = GridSearchCV(
            HybridClassifier(data, variant=v, C=C), grid.for_variant(v), cv=cv, scoring="accuracy", refit=True
        )
        search.fit(rows, y)
        res = search.cv_results_
        out["variants"][v] = {
            "params": {k: search.best_params_[k] for k in sorted(search.best_params_)},
            "cv_accuracy": float(search.best_score_),
            "cv_sd": float(res["std_test_score"][search.best_index_]),
            "grid": [
                {"params": {k: p[k] for k in sorted(p)}, "cv_accuracy": float(m), "cv_sd": float(s)}
                for p, m, s in zip(res["params"], res["mean_test_score"], res["std_test_score"])
            ],
        }
        out["estimators"][v] = search.best_estimator_
    out["chosen"] = max(variants, key=lambda v: (out["variants"][v]["cv_accuracy"], -variants.index(v)))
    return out
