"""The held-out evaluation pool: corpus texts the run never used, to score the feature model and the hybrid.

The feature model and the lexicon features need only spaCy and counts, so they can be
scored on thousands of texts the transformer never saw. The pool is every text of the
run's corpus (read through `data.corpus` with the run's own `[corpus]` settings, so texts
are built and preprocessed as in split.parquet) that is not in split.parquet — neither
train, validation nor test — and whose text equals no text of the split; balanced by
undersampling each class to the same count, at most `[hybrid] pool_size` in all, drawn
with `[hybrid] pool_seed`. Its features are cached in RUN/hybrid/pool/features.parquet
like the run's own (features/extract.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from stablex.config import FeaturesConfig, StudyConfig
from stablex.data.corpus import load_corpus
from stablex.data.dedup import text_key, title_key
from stablex.data.split import balanced_draw
from stablex.errors import StablexError
from stablex.features.extract import extract_texts, read_feature_file
from stablex.features.model import RunData
from stablex.io import write_parquet
from stablex.rundir import Run


@dataclass
class Pool:
    doc_ids: list[str]
    texts: list[str]
    y: np.ndarray  # class ids (the run's classes)
    X: np.ndarray  # the feature model's features
    record: dict = field(default_factory=dict)  # what metrics.json says about the pool


def pool_indices(labels: np.ndarray, eligible: np.ndarray, n_classes: int, size: int, seed: int) -> np.ndarray:
    """Balanced draw among eligible corpus rows: min(size // classes, smallest class) per class."""
    rng = np.random.default_rng(seed)
    return np.sort(balanced_draw(labels, eligible, range(n_classes), size // n_classes, rng))


def run_corpus_config(run_dir: Path):
    toml = Run(run_dir).study_path
    if not toml.exists():
        raise StablexError(f"{toml} not found: the held-out pool needs the run's [corpus] settings")
    return StudyConfig.from_toml(toml).corpus


def build_pool(run_dir: str | Path, data: RunData, size: int, seed: int, features: FeaturesConfig) -> Pool:
    """Draw the pool from the run's corpus, check it against split.parquet, extract its features (cached)."""
    run_dir = Path(run_dir)
    if size < 0:
        raise StablexError(f"[hybrid] pool_size = {size}: must be >= 0")
    t0 = time.perf_counter()
    cfg = run_corpus_config(run_dir)
    corpus = load_corpus(cfg)
    position = {d: i for i, d in enumerate(corpus.doc_ids)}
    in_split = [position.get(d) for d in data.doc_ids]
    changed = [d for d, i, t in zip(data.doc_ids, in_split, data.texts) if i is None or corpus.texts[i] != t]
    if changed:
        raise StablexError(
            f"{cfg.path}: {len(changed)} text(s) of {Run(run_dir).split_path} are missing or differ "
            f"when read with the run's [corpus] settings (first {changed[0]!r}); cannot draw a "
            f"held-out pool from another corpus"
        )
    index = {c: k for k, c in enumerate(data.classes)}
    labels = np.array([index.get(label, -1) for label in corpus.labels])
    split_keys = {text_key(t) for t in data.texts}
    split_titles = {k for k in map(title_key, data.texts) if k is not None}
    used = np.zeros(len(corpus), dtype=bool)
    used[[i for i in in_split if i is not None]] = True
    # near-duplicates of a split text (data/dedup.py: same normalised text or same title) stay out
    duplicate = np.array(
        [not u and (text_key(t) in split_keys or title_key(t) in split_titles) for u, t in zip(used, corpus.texts)]
    )
    eligible = ~used & ~duplicate & (labels >= 0)
    rows = pool_indices(labels, eligible, len(data.classes), size, seed) if size else np.zeros(0, np.int64)
    doc_ids, texts = [corpus.doc_ids[i] for i in rows], [corpus.texts[i] for i in rows]
    run = Run(run_dir)
    write_parquet(
        run.pool_path,
        pa.table(
            {
                "doc_id": pa.array(doc_ids, pa.string()),
                "label": pa.array([corpus.labels[i] for i in rows], pa.string()),
                "text": pa.array(texts, pa.string()),
            }
        ),
    )
    t_read = time.perf_counter() - t0
    X = np.zeros((0, len(data.names)))
    extracted = None
    if len(rows):
        extracted = extract_texts(run.pool_features_path, doc_ids, texts, features)
        if extracted.feature_names != data.names:
            raise StablexError(
                f"{run.pool_features_path}: features {extracted.feature_names} differ from the run's "
                f"{data.names}; re-run `stablex features`"
            )
        _, _, X = read_feature_file(run.pool_features_path, data.names)
    record = {
        "source": str(cfg.path),
        "text": cfg.text,
        "preprocess": cfg.preprocess,
        "seed": seed,
        "cap": size,
        "n": int(len(rows)),
        "per_class": {c: int(np.sum(labels[rows] == k)) for c, k in index.items()},
        "available": {c: int(np.sum(eligible & (labels == k))) for c, k in index.items()},
        "excluded_in_split": int(used.sum()),
        "excluded_duplicate_of_split": int(duplicate.sum()),
        "file": str(run.pool_path),
        "seconds": {
            "read_corpus": round(t_read, 2),
            "features_spacy": round(extracted.seconds, 2) if extracted else 0.0,
            "features_parsed": extracted.n_parsed if extracted else 0,
            "features_cached": extracted.n_cached if extracted else 0,
        },
    }
    return Pool(doc_ids, texts, labels[rows], X, record)
