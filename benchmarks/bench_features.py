"""Feature extraction speed: texts per second, and the ratio to a bare `nlp.pipe` (goal >= 0.9).

Both runs use the same loaded pipeline, texts, batch size and process count, so the ratio is
the cost of the feature computation itself. Usage:
    python benchmarks/bench_features.py [--n 1000] [--batch-size 64] [--n-process 1] [--text title+summary] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.csv as pacsv

from stablex.features.definitions import default_feature_set
from stablex.features.extract import compute_features, load_nlp, prepare_text

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-process", type=int, default=1)
    ap.add_argument("--text", default="title+summary")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    columns = args.text.split("+")
    t = pacsv.read_csv(
        args.corpus,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=columns),
    ).slice(0, args.n)
    texts = ["\n".join(parts) for parts in zip(*(t.column(c).to_pylist() for c in columns))]
    nlp, fs = load_nlp(), default_feature_set()
    list(nlp.pipe(texts[:64]))  # warm-up

    bare, full = [], []
    for _ in range(args.repeat):  # alternate the two runs so that load changes hit both alike
        t0 = time.perf_counter()
        for _ in nlp.pipe((prepare_text(x) for x in texts), batch_size=args.batch_size, n_process=args.n_process):
            pass
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        compute_features(texts, fs, batch_size=args.batch_size, n_process=args.n_process)
        full.append(time.perf_counter() - t0)
    bare, full = min(bare), min(full)
    n_tokens = sum(len(d) for d in nlp.tokenizer.pipe(texts))
    print(f"texts: {len(texts)} ({args.text}), tokens: {n_tokens}, pipeline: {nlp.pipe_names}")
    print(f"bare nlp.pipe:       {len(texts) / bare:8.1f} texts/s")
    print(f"feature extraction:  {len(texts) / full:8.1f} texts/s")
    print(f"ratio:               {bare / full:8.3f}  (goal >= 0.9)")


if __name__ == "__main__":
    main()
