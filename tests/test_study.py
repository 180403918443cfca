"""`stablex run` end to end on a small real study, resumed between stages, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from stablex.pipeline import run_study


def test_resume_does_only_what_is_missing(study_run):
    run = study_run.run
    assert set(study_run.first.seconds) == {"train", "explain"}
    assert (run / "explanations" / "lrp" / "seed-0.parquet").stat().st_mtime_ns == study_run.lrp_mtime
    for path in ("analysis/lrp/summary.json", "analysis/gxi/summary.json", "analysis/features/summary.json",
                 "features/features.parquet", "hybrid/metrics.json", "hybrid/lexicon.csv",
                 "explanations/faithfulness.json", "explanations/lrp@train/seed-1.parquet"):
        assert (run / path).exists(), path
    assert study_run.second.report == run / "report" / "index.html" and study_run.second.report.exists()
    again = run_study(study_run.cfg, run, show_progress=False, stages=("train", "explain", "faithfulness",
                                                                        "analyze", "hybrid"))
    assert set(again.skipped) >= {"faithfulness", "hybrid"}
    assert again.seconds["explain"] < 5  # every seed's parquet was found


def test_study_artefacts_hold_real_figures(study_run):
    run = study_run.run
    summary = json.loads((run / "analysis" / "lrp" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    hybrid = json.loads((run / "hybrid" / "metrics.json").read_text())
    vs = hybrid["consensus"]["vs_base"]  # the hybrid's tests, checked against their definitions
    assert vs["difference"] == pytest.approx(hybrid["consensus"]["accuracy"] - hybrid["base"]["accuracy"])
    assert vs["ci"][0] <= vs["difference"] <= vs["ci"][1]
    b, c = vs["mcnemar"]["b"], vs["mcnemar"]["c"]  # texts only the base / only the hybrid gets right
    assert vs["difference"] == pytest.approx((c - b) / hybrid["n_test"])
    if b + c:
        assert vs["mcnemar"]["p_exact"] == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue)
    table = pq.read_table(run / "explanations" / "lrp@train" / "seed-0.parquet")
    split = pq.read_table(run / "split.parquet").to_pydict()
    train_ids = {d for d, s in zip(split["doc_id"], split["split"]) if s == "train"}
    assert set(table.column("doc_id").to_pylist()) <= train_ids
    # The feature model beats chance but not the transformer on the same test split.
    fm = json.loads((run / "features" / "model.json").read_text())
    transformer = [json.loads((run / "seeds" / str(s) / "metrics.json").read_text())["accuracy"]["test"]
                   for s in (0, 1)]
    assert 0.5 < fm["metrics"]["test"]["accuracy"] < max(transformer)


def test_cli_run_reports_its_page(study_run, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(study_run.cfg.to_toml())
    r = subprocess.run([sys.executable, "-m", "stablex.cli", "run", str(study), "--out", str(study_run.run)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout and "index.html" in r.stdout.replace("\n", "")
