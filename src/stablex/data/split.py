"""Sampling and the train/validation/test split: deterministic, stratified, fixed across seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sklearn.model_selection import train_test_split

from stablex.config import CorpusConfig
from stablex.config_checks import SPLITS
from stablex.data.corpus import Corpus
from stablex.data.dedup import cross_split_duplicates, first_of_groups
from stablex.errors import StablexError


@dataclass
class Split:
    """The documents of a study, each assigned to one split (rows in a fixed order)."""

    doc_ids: list[str]
    texts: list[str]
    labels: list[str]
    label_ids: np.ndarray
    split: np.ndarray  # 'train' | 'validation' | 'test'
    classes: list[str]
    dropped_duplicates: int = 0  # corpus texts left out by [corpus] dedup (duplicates of a kept text)

    def indices(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)

    def to_table(self) -> pa.Table:
        return pa.table(
            {
                "doc_id": pa.array(self.doc_ids, pa.string()),
                "split": pa.array(self.split.tolist(), pa.string()),
                "label": pa.array(self.labels, pa.string()),
                "label_id": pa.array(self.label_ids, pa.int8()),
                "text": pa.array(self.texts, pa.string()),
            }
        )

    @classmethod
    def from_table(cls, table: pa.Table, classes: list[str]) -> "Split":
        d = table.to_pydict()
        return cls(
            d["doc_id"],
            d["text"],
            d["label"],
            np.asarray(d["label_id"], dtype=np.int64),
            np.asarray(d["split"]),
            classes,
        )

    def sizes(self) -> dict[str, int]:
        return {s: int((self.split == s).sum()) for s in SPLITS}


def balanced_draw(
    label_ids: np.ndarray, eligible: np.ndarray, classes, per_class: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Undersampling: `per_class` random eligible rows of each class (None: as many as the
    smallest class has), class after class in the order of `classes` (unsorted)."""
    rows = [np.flatnonzero(eligible & (label_ids == c)) for c in classes]
    n = min(len(r) for r in rows) if per_class is None else min([per_class] + [len(r) for r in rows])
    return np.concatenate([rng.permutation(r)[:n] for r in rows]).astype(np.int64)


def _stratifiable(y: np.ndarray, names: list[str], need: int, where: str, cfg: CorpusConfig) -> None:
    """Refuse, naming the class, a class too rare for a stratified split (scikit-learn's own
    error names neither the class nor the option that would fix it)."""
    counts = np.bincount(y, minlength=len(names))
    for c in np.argsort(counts, kind="stable"):
        if 0 < counts[c] < need:
            raise StablexError(
                f"{cfg.path}: column {cfg.label!r}: class {names[c]!r} has only {counts[c]} text(s) {where}; a "
                f"stratified split needs at least {need} per class (use more documents, or leave the class out "
                'with [corpus] classes and other_labels = "drop")'
            )


def _sample(
    label_ids: np.ndarray, cfg: CorpusConfig, rng: np.random.Generator, names: list[str] | None = None
) -> np.ndarray:
    """Balance classes by undersampling, then cap at max_docs keeping class proportions."""
    idx = np.arange(len(label_ids))
    classes = np.unique(label_ids)
    names = names or [str(c) for c in range(int(label_ids.max()) + 1)]
    need = 3 if len(cfg.split) == 3 and cfg.split[1] else 2  # one text per split at least
    _stratifiable(label_ids, names, need, "in the corpus", cfg)
    if cfg.balance:
        idx = balanced_draw(label_ids, np.ones(len(label_ids), bool), classes, None, rng)
    if cfg.max_docs is not None and cfg.max_docs < len(idx):
        if cfg.max_docs < 2 * len(classes):
            raise StablexError(f"[corpus] max_docs = {cfg.max_docs}: too small for {len(classes)} classes")
        idx, _ = train_test_split(
            idx, train_size=cfg.max_docs, stratify=label_ids[idx], random_state=int(rng.integers(2**31))
        )
        _stratifiable(label_ids[idx], names, need, f"among the {cfg.max_docs} sampled (max_docs)", cfg)
    return np.sort(idx)


def _split_counts(n: int, spec: list[float]) -> tuple[int, int, int]:
    """Counts from [corpus] split (its shape was checked when the config was made: config._split_shape)."""
    if all(float(v).is_integer() and v > 1 for v in spec if v) and sum(spec) > 1.0 + 1e-9:
        counts = [int(v) for v in spec]
        if sum(counts) > n:
            raise StablexError(f"[corpus] split = {spec}: asks for {sum(counts)} documents; only {n} available")
    else:
        val, test = round(n * spec[1]), round(n * spec[2])
        counts = [n - val - test, val, test]
    if counts[0] <= 0 or counts[2] <= 0:
        raise StablexError(f"[corpus] split = {spec}: train and test must not be empty ({n} documents)")
    return counts[0], counts[1], counts[2]


def given_split(corpus: Corpus, cfg: CorpusConfig) -> Split:
    """The split the corpus names ([corpus] split_column): every row kept, in the file's order
    within each split, nothing sampled (models trained elsewhere saw exactly these rows)."""
    if cfg.balance or cfg.max_docs is not None:
        raise StablexError(
            f"[corpus] split_column = {cfg.split_column!r}: the corpus gives the split, so balance "
            f"and max_docs cannot sample it; unset them"
        )
    names = np.asarray(corpus.splits)
    for s in ("train", "test"):
        if not (names == s).any():
            raise StablexError(f"{corpus.source}: column {cfg.split_column!r} names no {s!r} row")
    order = np.concatenate([np.flatnonzero(names == s) for s in SPLITS])
    return Split(
        doc_ids=[corpus.doc_ids[i] for i in order],
        texts=[corpus.texts[i] for i in order],
        labels=[corpus.labels[i] for i in order],
        label_ids=corpus.label_ids[order],
        split=names[order],
        classes=corpus.classes,
    )


def make_split(corpus: Corpus, cfg: CorpusConfig) -> Split:
    """Sample and split with `cfg.split_seed` only: every training seed sees the same split
    (or take the corpus's own, `given_split`, when [corpus] split_column names it)."""
    if corpus.splits is not None:
        return given_split(corpus, cfg)
    rng = np.random.default_rng(cfg.split_seed)
    label_ids = corpus.label_ids
    keep = first_of_groups(corpus.texts) if cfg.dedup else np.arange(len(label_ids))
    idx = keep[_sample(label_ids[keep], cfg, rng, corpus.classes)]
    n_train, n_val, n_test = _split_counts(len(idx), cfg.split)
    y = label_ids[idx]
    rest, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=cfg.split_seed)
    if n_val:
        train, val = train_test_split(rest, test_size=n_val, stratify=label_ids[rest], random_state=cfg.split_seed)
    else:
        train, val = rest, np.array([], dtype=int)
    train = train[:n_train]
    order = np.concatenate([np.sort(train), np.sort(val), np.sort(test)])
    names = np.array(["train"] * len(train) + ["validation"] * len(val) + ["test"] * len(test))
    texts = [corpus.texts[i] for i in order]
    pairs = cross_split_duplicates(texts, names)
    if pairs:
        i, j = pairs[0]
        raise StablexError(
            f"{corpus.source}: {len(pairs)} text(s) of the split have a duplicate (same text up to case, spaces and "
            f"punctuation, or the same title) in another split, first {corpus.doc_ids[order[i]]!r} ({names[i]}) and "
            f"{corpus.doc_ids[order[j]]!r} ({names[j]}): the test would measure memory. Set [corpus] dedup = true "
            f"(or `stablex train --dedup`) to keep one text per duplicate group"
        )
    return Split(
        doc_ids=[corpus.doc_ids[i] for i in order],
        texts=texts,
        labels=[corpus.labels[i] for i in order],
        label_ids=label_ids[order],
        split=names,
        classes=corpus.classes,
        dropped_duplicates=int(len(label_ids) - len(keep)),
    )
