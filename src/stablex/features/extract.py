"""Feature extraction: spaCy `nlp.pipe` in batches (optionally several processes), cached per text.

`RUN/features/features.parquet` holds doc_id and one float column per feature. Its schema
metadata records the feature set's signature and a digest of each text, so a re-run
parses only texts that are new or changed and reuses every other row.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.definitions import DocView, FeatureSet, default_feature_set
from stablex.io import write_parquet
from stablex.rundir import Run

_META_SIGNATURE = b"stablex.features.signature"
_META_DIGESTS = b"stablex.features.text_digests"
_APOSTROPHE = str.maketrans({"\u2019": "'"})

Progress = Callable[[int, int], None]  # (texts done, texts total)


@lru_cache(maxsize=2)
def load_nlp(model: str = "fr_core_news_sm"):
    """spaCy pipeline, loaded once per process: no NER; the fast sentence splitter instead of the parser."""
    import spacy

    try:
        nlp = spacy.load(model, exclude=["ner"], disable=["parser"])
    except OSError:
        raise StablexError(f"spaCy model {model!r} is not installed (option [features] spacy_model)") from None
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp


def prepare_text(text: str) -> str:
    """Typographic apostrophes -> ASCII: fr_core_news_sm mis-tags « L’ », « n’ » otherwise.
    Same length, so token offsets stay valid in the original text."""
    return text.translate(_APOSTROPHE)


def parse(texts: Iterable[str], model: str = "fr_core_news_sm", batch_size: int = 64, n_process: int = 1) -> Iterator:
    nlp = load_nlp(model)
    return nlp.pipe((prepare_text(t) for t in texts), batch_size=batch_size, n_process=n_process)


def compute_features(
    texts: list[str],
    feature_set: FeatureSet,
    model: str = "fr_core_news_sm",
    batch_size: int = 64,
    n_process: int = 1,
    progress: Progress | None = None,
) -> np.ndarray:
    """texts x features, in the order of `feature_set.names`."""
    out = np.zeros((len(texts), len(feature_set.features)))
    task = progress.add_task("features (spaCy)", total=len(texts)) if progress is not None else None
    for i, doc in enumerate(parse(texts, model, batch_size, n_process)):
        out[i] = feature_set.values(DocView.from_doc(doc))
        if task is not None and (i + 1) % batch_size == 0:
            progress.advance(task, batch_size)
    if task is not None:
        progress.update(task, completed=len(texts))
    return out


def feature_signature(feature_set: FeatureSet, model: str) -> str:
    import spacy

    nlp = load_nlp(model)
    parts = [f"spacy={spacy.__version__}", f"model={model}@{nlp.meta.get('version')}", *feature_set.signature_parts]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class ExtractResult:
    path: Path
    n_docs: int
    n_cached: int
    n_parsed: int
    seconds: float
    feature_names: list[str]


def read_split(run_dir: Path) -> pa.Table:
    path = Run(run_dir).split_path
    if not path.exists():
        raise StablexError(f"{path} not found: run `stablex train` first")
    table = pq.read_table(path)
    for column in ("doc_id", "split", "label", "text"):
        if column not in table.column_names:
            raise StablexError(f"{path}: no column {column!r}")
    return table


def _read_cache(path: Path, signature: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    if not path.exists():
        return {}, {}
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if meta.get(_META_SIGNATURE, b"").decode() != signature:
        return {}, {}
    digests = json.loads(meta.get(_META_DIGESTS, b"{}"))
    values = np.column_stack([table.column(c).to_numpy() for c in table.column_names if c != "doc_id"])
    return digests, dict(zip(table.column("doc_id").to_pylist(), values))


def extract_features(
    run_dir: str | Path, config: FeaturesConfig, progress: Progress | None = None, feature_set: FeatureSet | None = None
) -> ExtractResult:
    """Features of every text of split.parquet -> RUN/features/features.parquet (cached rows reused)."""
    split = read_split(Path(run_dir))
    return extract_texts(
        Run(run_dir).features_path,
        split.column("doc_id").to_pylist(),
        split.column("text").to_pylist(),
        config,
        progress,
        feature_set,
    )


def extract_texts(
    path: Path,
    doc_ids: list[str],
    texts: list[str],
    config: FeaturesConfig,
    progress: Progress | None = None,
    feature_set: FeatureSet | None = None,
) -> ExtractResult:
    """Features of `texts` -> the Parquet file `path`, reusing its rows whose text is unchanged.

    The run's split and the hybrid's held-out pool (features/pool.py) share this cache."""
    t0 = time.perf_counter()
    if config.n_process < 1 or config.batch_size < 1:
        raise StablexError("options [features] n_process and batch_size must be >= 1")
    feature_set = feature_set or default_feature_set(config)
    digests = [text_digest(t) for t in texts]
    signature = feature_signature(feature_set, config.spacy_model)
    old_digests, cached = _read_cache(path, signature)
    todo = [i for i, (d, h) in enumerate(zip(doc_ids, digests)) if d not in cached or old_digests.get(d) != h]
    fresh = (
        compute_features(
            [texts[i] for i in todo], feature_set, config.spacy_model, config.batch_size, config.n_process, progress
        )
        if todo
        else np.zeros((0, len(feature_set.features)))
    )
    values = np.zeros((len(doc_ids), len(feature_set.features)))
    todo_set = set(todo)
    for i, d in enumerate(doc_ids):
        if i not in todo_set:
            values[i] = cached[d]
    values[todo] = fresh
    columns = {"doc_id": pa.array(doc_ids, pa.string())}
    columns.update({name: pa.array(values[:, j], pa.float64()) for j, name in enumerate(feature_set.names)})
    table = pa.table(columns).replace_schema_metadata(
        {
            _META_SIGNATURE: signature.encode(),
            _META_DIGESTS: json.dumps(dict(zip(doc_ids, digests))).encode(),
        }
    )
    write_parquet(path, table)
    return ExtractResult(
        path, len(doc_ids), len(doc_ids) - len(todo), len(todo), time.perf_counter() - t0, feature_set.names
    )


def read_features(run_dir: str | Path, names: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(doc_ids, feature names, values) of RUN/features/features.parquet."""
    return read_feature_file(Run(run_dir).features_path, names)


def read_feature_file(path: Path, names: list[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    if not path.exists():
        raise StablexError(f"{path} not found: run `stablex features` first")
    table = pq.read_table(path)
    cols = [c for c in table.column_names if c != "doc_id"]
    if names is not None:
        missing = [n for n in names if n not in cols]
        if missing:
            raise StablexError(f"{path}: no column(s) {missing}; re-run `stablex features`")
        cols = names
    values = np.column_stack([table.column(c).to_numpy() for c in cols]).astype(float)
    return table.column("doc_id").to_pylist(), cols, values
