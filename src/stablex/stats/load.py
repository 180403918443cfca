"""Read a run's explanation tables into one dense [seeds, word positions] array.

Each `explanations/<method>/seed-<seed>.parquet` is read once (a loop over seeds, vectorised
over its rows). Word positions are laid out text after text (texts sorted by doc_id, words
by word_index), so a text's words are the slice offsets[t]:offsets[t+1] of every seed's row,
and texts of equal length stack into dense [texts, seeds, words] blocks without padding.

Signed convention: in a 2-class run, relevance is converted to relevance toward the
reference class, the second class of manifest["classes"], by flipping its sign where the
seed explained the other class (the study's "sign flipped for the opinion class"). This
makes seeds comparable when `target` is 'predicted' and seeds predict differently. With
more than two classes there is no such conversion: relevance stays toward each seed's
target, and per_text.parquet's target_agreement says how often seeds explained the same class.
Texts missing from some seed (or with some of their words missing) are left out and counted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stablex.errors import StablexError
from stablex.records import SeedMetrics
from stablex.rundir import Run


def toward(relevance: np.ndarray, explained: np.ndarray, cls) -> np.ndarray:
    """Relevance toward `cls` in a two-class run: where a seed explained the other class, its
    relevance toward that class is relevance against `cls`, so the sign is flipped. The one
    sign convention of analyze, the report's viewer, the stability comparison and the hybrid."""
    return np.where(np.asarray(explained) == cls, relevance, -relevance)


@dataclass
class Explanations:
    seeds: list[int]
    classes: list[str]
    reference: int | None  # index of the reference class (2-class runs), else None
    doc_ids: list[str]  # [T]
    offsets: np.ndarray  # [T + 1] first word position of each text
    word_index: np.ndarray  # [N]
    words: pa.Array  # [N] the words (from the first seed)
    R: np.ndarray  # [S, N] float32 relevance (signed toward the reference class when 2 classes)
    targets: np.ndarray  # [S, T] int16 class id each seed explained
    dropped: dict = field(default_factory=dict)

    @property
    def n_words(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def pos_text(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.doc_ids)), self.n_words)


def explanation_seeds(run_dir: Path, method: str) -> list[int]:
    folder = Run(run_dir).explanations_dir(method)
    if not folder.is_dir():
        raise StablexError(
            f"{folder}: no explanations for method {method!r}; run `stablex explain --method {method}` first"
        )
    seeds = Run(run_dir).explained_seeds(method)
    if not seeds:
        raise StablexError(f"{folder}: no seed-<seed>.parquet files")
    return seeds


def read_seed_metrics(run_dir: Path, seeds: list[int]) -> dict[int, SeedMetrics]:
    """metrics.json of each seed that has one (others are simply absent)."""
    out = {}
    for s in seeds:
        m = SeedMetrics.read(Run(run_dir).seed_metrics_path(s))
        if m is not None:
            out[s] = m
    return out


def test_accuracy(metrics: dict[int, SeedMetrics]) -> tuple[dict[int, float], int | None]:
    """{seed: test accuracy} and the smallest test size (seeds without a test accuracy skipped)."""
    acc = {s: a for s, m in metrics.items() if (a := m.test_accuracy) is not None}
    sizes = [n for m in metrics.values() if (n := m.n_test) is not None]
    return acc, min(sizes) if sizes else None


def split_correctness(run_dir: Path, seeds: list[int], split: str = "test") -> tuple[list[str], np.ndarray]:
    """The split's doc ids (sorted) and [S, n] bool: did each seed predict each text right.

    Every seed predicts the same texts, so per-text correctness pairs the seeds' accuracies."""
    ids, rows = None, []
    for s in seeds:
        path = Run(run_dir).seed_predictions_path(s)
        if not path.exists():
            raise StablexError(f"{path}: missing (seed {s} has no predictions)")
        t = pq.read_table(path, columns=["doc_id", "label", "pred"], filters=[("split", "=", split)])
        t = t.sort_by("doc_id")
        d = t["doc_id"].to_pylist()
        if ids is None:
            ids = d
        elif d != ids:
            raise StablexError(f"{path}: seed {s} predicted other {split} texts than seed {seeds[0]}")
        rows.append(pc.equal(t["label"], t["pred"]).to_numpy(zero_copy_only=False))
    return ids or [], np.asarray(rows, bool).reshape(len(seeds), -1)


def study_bootstrap(run_dir: Path) -> bool:
    """Whether seeds trained on bootstrap draws (then data_seed is a random source)."""
    p = Run(run_dir).study_path
    try:
        return bool(tomllib.loads(p.read_text()).get("train", {}).get("bootstrap", False))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return False


def _layout(path: Path) -> tuple[pa.Table, pa.Array, np.ndarray, np.ndarray, np.ndarray, int]:
    """The word positions of the first seed's table: (table sorted by doc and word, the texts'
    doc ids, word_index per position, first position of each text, one sorted key per position,
    the key stride)."""
    first = pq.read_table(path, columns=["doc_id", "word_index", "word"])
    first = first.sort_by([("doc_id", "ascending"), ("word_index", "ascending")])
    doc = first["doc_id"].combine_chunks()
    wi = first["word_index"].to_numpy().astype(np.int64)
    n = len(doc)
    if n == 0:
        raise StablexError(f"{path}: empty table")
    new_doc = np.ones(n, bool)
    new_doc[1:] = pc.not_equal(doc[1:], doc[:-1]).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(new_doc)
    stride = int(wi.max()) + 1
    keys = (np.cumsum(new_doc) - 1) * stride + wi
    if (np.diff(keys) <= 0).any():
        raise StablexError(f"{path}: a (doc_id, word_index) appears twice")
    return first, doc.take(pa.array(starts)), wi, starts, keys, stride


def load_explanations(run_dir: Path, method: str, seeds: list[int], classes: list[str]) -> Explanations:
    folder = Run(run_dir).explanations_dir(method)
    first, docs, wi, starts, keys, stride = _layout(folder / f"seed-{seeds[0]}.parquet")
    n = len(wi)
    T, S = len(starts), len(seeds)
    offsets = np.append(starts, n)
    class_ids = pa.array(classes, pa.string())
    R = np.zeros((S, n), np.float32)
    targets = np.full((S, T), -1, np.int16)
    complete = np.zeros((S, T), bool)
    for si, s in enumerate(seeds):  # one vectorised read per seed
        t = pq.read_table(folder / f"seed-{s}.parquet", columns=["doc_id", "word_index", "relevance", "target"])
        c = pc.index_in(t["doc_id"], value_set=docs).fill_null(-1).to_numpy().astype(np.int64)
        w = t["word_index"].to_numpy().astype(np.int64)
        known = c >= 0  # rows of texts the first seed does not have are ignored (those texts are dropped)
        k = np.where((w >= 0) & (w < stride), c * stride + w, -1)[known]  # -1 never matches a key
        pos = np.minimum(np.searchsorted(keys, k), n - 1)
        if not np.array_equal(keys[pos], k):
            bad = np.flatnonzero(keys[pos] != k)[0]
            raise StablexError(
                f"{folder}/seed-{s}.parquet: doc {docs[int(c[known][bad])]} has word_index "
                f"{int(w[known][bad])}, which seed {seeds[0]} does not have (words must match across seeds)"
            )
        R[si, pos] = t["relevance"].to_numpy(zero_copy_only=False)[known]
        tgt = pc.index_in(t["target"], value_set=class_ids).fill_null(-1).to_numpy().astype(np.int64)[known]
        if (tgt < 0).any():
            raise StablexError(f"{folder}/seed-{s}.parquet: a target is not one of the classes {classes}")
        targets[si, c[known]] = tgt
        complete[si] = np.bincount(c[known], minlength=T) == np.diff(offsets)
    if not np.isfinite(R).all():
        raise StablexError(f"{folder}: relevance contains NaN or infinite values")
    keep = complete.all(0)
    dropped = {"incomplete_texts": int((~keep).sum())}
    if not keep.any():
        raise StablexError(f"{folder}: no text is explained completely by every seed")
    if not keep.all():
        pos_keep = np.repeat(keep, np.diff(offsets))
        R, wi, words = R[:, pos_keep], wi[pos_keep], first["word"].combine_chunks().filter(pa.array(pos_keep))
        offsets = np.append(0, np.cumsum(np.diff(offsets)[keep]))
        docs, targets = docs.filter(pa.array(keep)), targets[:, keep]
    else:
        words = first["word"].combine_chunks()
    reference = 1 if len(classes) == 2 else None
    if reference is not None:
        for si in range(S):  # one seed row at a time (no second [S, N] array)
            R[si] = toward(R[si], np.repeat(targets[si], np.diff(offsets)), reference)
    return Explanations(
        seeds=list(seeds),
        classes=list(classes),
        reference=reference,
        doc_ids=docs.to_pylist(),
        offsets=offsets,
        word_index=wi,
        words=words,
        R=R,
        targets=targets,
        dropped=dropped,
    )


def test_correctness(run_dir: Path, seeds: list[int]) -> dict[int, np.ndarray]:
    """{seed: bool per test text (sorted by doc_id), right or wrong}, for the paired accuracy
    tests; {} unless every seed has predictions of exactly the same test texts."""
    try:
        _, correct = split_correctness(run_dir, seeds)
    except StablexError:
        return {}
    return {s: correct[i] for i, s in enumerate(seeds)}
