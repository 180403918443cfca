"""Benchmark of `stablex analyze` at the study's size: 200 seeds x 1,000 texts x 300 words.

Writes synthetic explanation tables (one Parquet file per seed, the run-directory contract)
to a temporary directory, runs the analyze stage and prints wall time and peak RSS against
the goals (<= 120 s, <= 4 GB). Synthetic data serve this benchmark only.

    python benchmarks/bench_analyze.py [--seeds 200] [--texts 1000] [--words 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stablex.config import AnalyzeConfig
from stablex.stats.analyze import analyze, format_table

GOAL_SECONDS = 120
GOAL_BYTES = 4 * 2**30


def make_run(root: Path, n_seeds: int, n_texts: int, mean_words: int, rng: np.random.Generator) -> None:
    """Texts of varying length (mean `mean_words`), a shared 'true' relevance plus seed noise."""
    (root / "explanations" / "lrp").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"classes": ["actu", "chron"]}))
    lengths = rng.integers(mean_words // 2, mean_words * 3 // 2 + 1, n_texts)
    offsets = np.append(0, np.cumsum(lengths))
    n = int(offsets[-1])
    doc = np.repeat(np.arange(n_texts), lengths)
    word_index = (np.arange(n) - offsets[doc]).astype(np.int32)
    vocab = np.array([f"w{i}" for i in range(20000)])
    words = pa.array(vocab[rng.zipf(1.3, n) % len(vocab)])
    doc_ids = pa.array([f"doc{i:05d}" for i in range(n_texts)]).take(pa.array(doc))
    truth = rng.normal(size=n).astype(np.float32)
    zeros32 = np.zeros(n, np.int32)
    for s in range(n_seeds):
        target_chron = rng.random(n_texts) < 0.5
        sign = np.where(target_chron, 1, -1)[doc].astype(np.float32)
        rel = (truth + rng.normal(scale=1.5, size=n).astype(np.float32)) * sign
        target = pa.array(np.where(target_chron, "chron", "actu")[doc])
        pq.write_table(
            pa.table(
                {
                    "seed": pa.array(np.full(n, s, np.int32)),
                    "doc_id": doc_ids,
                    "word_index": word_index,
                    "word": words,
                    "start": zeros32,
                    "end": zeros32,
                    "relevance": rel,
                    "target": target,
                    "pred": target,
                    "logit": np.ones(n, np.float32),
                }
            ),
            root / "explanations" / "lrp" / f"seed-{s}.parquet",
            compression="zstd",
        )
        d = root / "seeds" / str(s)
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(
            json.dumps(
                {
                    "seed": s,
                    "init_seed": s,
                    "order_seed": s,
                    "dropout_seed": s,
                    "data_seed": s,
                    "accuracy": {"test": float(0.927 + 0.0056 * rng.normal())},
                    "n": {"test": 1000},
                }
            )
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--words", type=int, default=300, help="mean words per text")
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    try:
        t0 = time.perf_counter()
        make_run(root, args.seeds, args.texts, args.words, np.random.default_rng(0))
        print(
            f"generated {args.seeds} seeds x {args.texts} texts x ~{args.words} words "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        result = analyze(root, "lrp", AnalyzeConfig(bootstrap=args.bootstrap))
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        from rich.console import Console

        Console().print(format_table(result))
        print(
            f"values: {result.n_words * len(result.seeds):,} ({len(result.seeds)} seeds x {result.n_texts} texts "
            f"x {result.n_words / result.n_texts:.0f} words)"
        )
        print("timings:", {k: round(v, 1) for k, v in result.summary["timings"].items()})
        print(f"wall time: {wall:.1f} s (goal <= {GOAL_SECONDS} s): {'met' if wall <= GOAL_SECONDS else 'NOT met'}")
        print(
            f"peak RSS: {peak / 2**30:.2f} GiB (after generation: {rss_before / 2**30:.2f} GiB; "
            f"goal <= 4 GiB): {'met' if peak <= GOAL_BYTES else 'NOT met'}"
        )
        return 0 if wall <= GOAL_SECONDS and peak <= GOAL_BYTES else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
