"""Build a small but real run directory for the report: every stage, on Le Monde texts.

Shared by the report tests (a session-scoped fixture) and by hand: ``python tests/report_run.py OUT``.
The run is small (few texts, short inputs, 2-3 seeds) so that the whole pipeline takes a few
minutes on 2 CPU cores; the report only needs the artefacts to exist and be consistent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stablex.config import StudyConfig

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"


def small_config(n_docs: int = 120, seeds: tuple[int, ...] = (0, 1), max_tokens: int = 64,
                 epochs: int = 4) -> StudyConfig:
    return StudyConfig.from_dict({
        "preset": "quick",
        "corpus": {"path": str(CORPUS.resolve()), "max_docs": n_docs, "max_tokens": max_tokens},
        "train": {"seeds": list(seeds), "threads": 2, "epochs": epochs},
        "explain": {"randomisation_texts": 4, "faithfulness_texts": 12, "threads": 2},
        "analyze": {"bootstrap": 100},
        "features": {"bootstrap": 20, "resample_draws": 3},
        "hybrid": {"bootstrap": 200, "single_seed": True, "pool_size": 400, "cv_folds": 3,
                   "top_words_grid": [25], "min_freq_grid": [2], "sign_consistency_grid": [0.8], "n_words_grid": [10]},
    })


def build_run(out: str | Path, cfg: StudyConfig | None = None, log=lambda m: print(m, flush=True)) -> Path:
    """Run every stage the report reads (resumable stages skip what exists)."""
    from dataclasses import replace

    from stablex.explain.faithfulness import faithfulness
    from stablex.explain.stage import explain
    from stablex.features.extract import extract_features
    from stablex.features.hybrid import run_hybrid
    from stablex.features.model import fit_feature_model
    from stablex.features.stability import compare_stability
    from stablex.stats.analyze import analyze
    from stablex.train.sweep import train

    cfg = cfg or small_config()
    out = Path(out)
    steps = [
        ("train", lambda: train(cfg, out, show_progress=False)),
        ("explain lrp", lambda: explain(out, "lrp", cfg.explain, show_progress=False)),
        ("explain gxi", lambda: explain(out, "gxi", cfg.explain, show_progress=False)),
        ("explain lrp@train", lambda: explain(out, "lrp", replace(cfg.explain, split="train", randomisation_texts=0,
                                                                       max_docs=48),
                                              show_progress=False)),
        ("faithfulness", lambda: faithfulness(out, ["lrp", "gxi"], cfg.explain, show_progress=False)),
        ("analyze lrp", lambda: analyze(out, "lrp", cfg.analyze)),
        ("analyze gxi", lambda: analyze(out, "gxi", cfg.analyze)),
        ("features", lambda: extract_features(out, cfg.features)),
        ("feature model", lambda: fit_feature_model(out, cfg.features)),
        ("stability", lambda: compare_stability(out, cfg.features)),
        ("hybrid", lambda: run_hybrid(out, cfg.hybrid, out / "explanations" / "lrp@train", features=cfg.features)),
    ]
    for name, step in steps:
        t = time.perf_counter()
        step()
        log(f"{name}: {time.perf_counter() - t:.1f} s")
    return out


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seeds = tuple(range(int(sys.argv[3]))) if len(sys.argv) > 3 else (0, 1, 2, 3)
    build_run(sys.argv[1], small_config(n, seeds, 128, epochs=3))


# --- a hand-built run: no model, written to the run-directory contract ---------------------------

HOSTILE = "<script>alert(1)</script> & <img src=x onerror=alert(2)> </p>"
CLASSES = ["news", "opinion"]


def _words(text: str) -> list[tuple[int, int]]:
    """Whitespace-delimited words with their code-point offsets."""
    import re
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def build_handmade_run(out: str | Path, texts: list[str], seeds: tuple[int, ...] = (0, 1, 2),
                       analyse: bool = True) -> Path:
    """A run with split, seed metrics and lrp explanations (random relevances, fixed RNG) for `texts`
    (all test texts), analysed by the real analyze stage: enough for the report, no model needed."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stablex.config import AnalyzeConfig
    from stablex.stats.analyze import analyze

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"classes": CLASSES, "config_hash": "0" * 64,
                                                   "versions": {"stablex": "test"}}))
    (out / "study.toml").write_text('name = "hand-made <run>"\n')
    ids = [f"d{i}" for i in range(len(texts))]
    labels = [CLASSES[i % 2] for i in range(len(texts))]
    pq.write_table(pa.table({"doc_id": ids, "split": ["test"] * len(texts), "label": labels,
                             "label_id": pa.array([i % 2 for i in range(len(texts))], pa.int8()), "text": texts}),
                   out / "split.parquet")
    rng = np.random.default_rng(0)
    schema = pa.schema([("seed", pa.int32()), ("doc_id", pa.string()), ("word_index", pa.int32()),
                        ("word", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
                        ("relevance", pa.float32()), ("target", pa.string()), ("pred", pa.string()),
                        ("logit", pa.float32())])
    for s in seeds:
        rows: dict[str, list] = {k: [] for k in schema.names}
        for d, text in zip(ids, texts):
            pred = CLASSES[int(rng.integers(2))]
            for i, (a, b) in enumerate(_words(text)):
                for k, v in (("seed", s), ("doc_id", d), ("word_index", i), ("word", text[a:b]), ("start", a),
                             ("end", b), ("relevance", float(rng.normal())), ("target", pred), ("pred", pred),
                             ("logit", 1.0)):
                    rows[k].append(v)
        folder = out / "explanations" / "lrp"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows, schema=schema), folder / f"seed-{s}.parquet")
        (out / "seeds" / str(s)).mkdir(parents=True, exist_ok=True)
        (out / "seeds" / str(s) / "metrics.json").write_text(json.dumps({
            "seed": s, "accuracy": {"test": 0.8 + 0.01 * s}, "n": {"test": len(texts)}}))
    if analyse:
        analyze(out, "lrp", AnalyzeConfig(bootstrap=20))
    return out
