"""Shared fixtures: the real corpus by path, and one small real run reused by several tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LEMONDE = (REPO.parent / "shared" / "data" / "lemonde-2022" / "lemonde-2022.csv.gz").resolve()


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # the one process-wide setting the CLI makes for explain/train (library calls do not): the
    # tests' explain and train stages then run as fast as `stablex` does
    from stablex.runtime import keep_freed_memory

    keep_freed_memory()


@pytest.fixture(scope="session")
def lemonde_path() -> Path:
    if not LEMONDE.exists():
        pytest.fail(f"the Le Monde corpus is expected at {LEMONDE} (../shared beside the repository)")
    return LEMONDE


def small_study(corpus_path: Path, **overrides):
    """A real but small study: e5-small, quick preset, a few hundred balanced title+summary texts."""
    from stablex.config import StudyConfig

    data = {
        "preset": "quick",
        "corpus": {"path": str(corpus_path), "max_docs": 400, "max_tokens": 64, "split": [0.7, 0.05, 0.25]},
        "train": {"seeds": [0, 1], "epochs": 3},
        # 100 of the 280 training texts explained for the hybrid's lexicon; 20 texts scored for faithfulness
        "explain": {
            "methods": ["lrp", "gxi"],
            "texts": 60,
            "train_texts": 100,
            "faithfulness_texts": 20,
            "faithfulness_permutations": 2,
        },
        # a smaller held-out pool and grid than the defaults keep the hybrid stage to seconds
        "hybrid": {
            "pool_size": 600,
            "cv_folds": 3,
            "top_words_grid": [25, 50],
            "min_freq_grid": [2, 5],
            "sign_consistency_grid": [0.8],
            "n_words_grid": [10],
        },
    }
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return StudyConfig.from_dict(data)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, lemonde_path):
    """Two real seeds of e5-small fine-tuned on 400 Le Monde texts (about a minute on 2 cores).

    Tests must not mutate the returned config (deep-copy it first): later fixtures reuse it."""
    from stablex.train.sweep import train

    out = tmp_path_factory.mktemp("runs") / "small"
    cfg = small_study(lemonde_path)
    train(cfg, out, show_progress=False)
    return out, cfg


@pytest.fixture(scope="session")
def study_run(trained_run):
    """The same run taken through `stablex run`: first interrupted after the explanations, then
    completed, so tests can check that the second call only did what was missing."""
    from types import SimpleNamespace

    from stablex.pipeline import run_study

    run, cfg = trained_run
    first = run_study(cfg, run, show_progress=False, stages=("train", "explain"))
    lrp = run / "explanations" / "lrp" / "seed-0.parquet"
    mtime = lrp.stat().st_mtime_ns
    second = run_study(cfg, run, show_progress=False)
    return SimpleNamespace(run=run, cfg=cfg, first=first, second=second, lrp_mtime=mtime)
