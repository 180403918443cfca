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
                 epochs: int = 2) -> StudyConfig:
    return StudyConfig.from_dict({
        "preset": "quick",
        "corpus": {"path": str(CORPUS.resolve()), "max_docs": n_docs, "max_tokens": max_tokens},
        "train": {"seeds": list(seeds), "threads": 2, "epochs": epochs},
        "explain": {"randomisation_texts": 4, "faithfulness_texts": 12, "threads": 2},
        "analyze": {"bootstrap": 100},
        "features": {"bootstrap": 20, "resample_draws": 3},
        "hybrid": {"bootstrap": 200, "min_freq": 2, "single_seed": True},
    })


def build_run(out: str | Path, cfg: StudyConfig | None = None, log=print) -> Path:
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
        ("explain lrp@train", lambda: explain(out, "lrp", replace(cfg.explain, split="train", randomisation_texts=0),
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
        log(f"{name}: {time.perf_counter() - t:.1f} s", flush=True)
    return out


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seeds = tuple(range(int(sys.argv[3]))) if len(sys.argv) > 3 else (0, 1, 2, 3)
    build_run(sys.argv[1], small_config(n, seeds, 128, epochs=3))
