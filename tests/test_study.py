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
    for path in (
        "analysis/lrp/summary.json",
        "analysis/gxi/summary.json",
        "analysis/features/summary.json",
        "features/features.parquet",
        "hybrid/metrics.json",
        "hybrid/lexicon.csv",
        "explanations/faithfulness.json",
        "explanations/lrp@train/seed-1.parquet",
    ):
        assert (run / path).exists(), path
    assert study_run.second.report == run / "report" / "index.html" and study_run.second.report.exists()
    again = run_study(
        study_run.cfg, run, show_progress=False, stages=("train", "explain", "faithfulness", "analyze", "hybrid")
    )
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
    transformer = [
        json.loads((run / "seeds" / str(s) / "metrics.json").read_text())["accuracy"]["test"] for s in (0, 1)
    ]
    assert 0.5 < fm["metrics"]["test"]["accuracy"] < max(transformer)


def test_cli_run_reports_its_page(study_run, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(study_run.cfg.to_toml())
    r = subprocess.run(
        [sys.executable, "-m", "stablex.cli", "run", str(study), "--out", str(study_run.run)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout and "index.html" in r.stdout.replace("\n", "")


def test_cli_run_stages_runs_only_those_and_refuses_an_unknown_one(study_run, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(study_run.cfg.to_toml())
    cmd = [sys.executable, "-m", "stablex.cli", "run", str(study), "--out", str(study_run.run), "--stages"]
    bad = subprocess.run([*cmd, "train,hybird"], capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "hybird" in bad.stderr and "stages" in bad.stderr, bad.stderr
    (study_run.run / "report" / "index.html").unlink()
    r = subprocess.run([*cmd, "report"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    timed = [line.split()[0] for line in r.stdout.splitlines() if line.strip().endswith(" s")]
    assert timed == ["report"] and (study_run.run / "report" / "index.html").exists()


def test_verdict_names_every_method_with_its_faithfulness(study_run):
    """Two explained methods: both scored for faithfulness (with the random ranking's interval),
    both in the verdict's table and sentences, the LRP rule named from the summary."""
    import re

    from stablex.report.data import load
    from stablex.report.verdict import method_rows

    run = study_run.run
    faith = json.loads((run / "explanations" / "faithfulness.json").read_text())
    assert set(faith["methods"]) == {"lrp", "gxi", "random"} and faith["n_texts"] == 20
    for m in ("lrp", "gxi", "random"):
        lo, hi = faith["methods"][m]["comprehensiveness_ci"]
        assert lo <= faith["methods"][m]["comprehensiveness_aopc"] <= hi
    explained = set(faith["doc_ids"])
    lrp_texts = set(pq.read_table(run / "explanations" / "lrp" / "seed-0.parquet").column("doc_id").to_pylist())
    assert explained <= lrp_texts  # faithfulness rests on explained texts
    d = load(run)
    rows = {r.name: r for r in method_rows(d)}
    assert set(rows) == {"lrp", "gxi"} and all(r.status != "unscored" for r in rows.values())
    html = (run / "report" / "index.html").read_text()
    verdict = html[html.index('<section id="verdict"') : html.index("</section>", html.index('<section id="verdict"'))]
    page = re.sub(r"<[^>]+>", "", verdict)
    rule = json.loads((run / "explanations" / "lrp" / "summary.json").read_text())["rule"]["name"]
    assert rule in page
    for m in ("lrp", "gxi"):
        aopc = f"{faith['methods'][m]['comprehensiveness_aopc']:.3f}"
        assert f"<td>{m}</td>" in verdict and aopc in page  # its row, with its comprehensiveness
        assert re.search(
            rf"{m}(’s|'s)? (is more faithful|beats a random ranking by|faithfulness cannot be told|faithfulness "
            r"is below)",
            page,
        )
    assert 'id="verdict-figure"' in verdict and "random ranking" in page


def test_explained_subset_is_fixed_stratified_and_shared(study_run):
    """`[explain] texts = 60`: the same 60 test texts for every seed and method, 30 per class."""
    from stablex.explain.stage import stratified_subset

    run = study_run.run
    split = pq.read_table(run / "split.parquet").to_pydict()
    test = [(d, lab) for d, s, lab in zip(split["doc_id"], split["split"], split["label_id"]) if s == "test"]
    sets = {
        (m, s): frozenset(
            pq.read_table(run / "explanations" / m / f"seed-{s}.parquet", columns=["doc_id"])
            .column("doc_id")
            .to_pylist()
        )
        for m in ("lrp", "gxi")
        for s in (0, 1)
    }
    assert len(set(sets.values())) == 1
    chosen = next(iter(sets.values()))
    assert len(chosen) == 60 and len(test) == 100
    labels = dict(test)
    assert sum(labels[d] for d in chosen) == 30  # stratified: half opinion, as the test split
    import numpy as np

    pos = stratified_subset(np.array([lab for _, lab in test]), 60, study_run.cfg.corpus.split_seed)
    assert chosen == {test[i][0] for i in pos}  # what stratified_subset draws with split_seed
    summary = json.loads((run / "explanations" / "lrp" / "summary.json").read_text())
    assert summary["texts"]["n"] == 60 and summary["texts"]["of"] == 100
    analysis = json.loads((run / "analysis" / "gxi" / "summary.json").read_text())
    assert analysis["n_texts"] == 60


def test_quick_study_tests_on_1000_texts_apart_from_training():
    """The shipped quick study: >= 1,000 balanced test texts, disjoint from train and validation."""
    from pathlib import Path

    from stablex.config import StudyConfig
    from stablex.data.corpus import load_corpus
    from stablex.data.split import make_split

    cfg = StudyConfig.from_toml(Path(__file__).resolve().parents[1] / "studies" / "lemonde-quick.toml")
    split = make_split(load_corpus(cfg.corpus), cfg.corpus)
    ids = {s: {split.doc_ids[i] for i in split.indices(s)} for s in ("train", "validation", "test")}
    texts = {s: {split.texts[i] for i in split.indices(s)} for s in ids}
    assert len(ids["test"]) >= 1000 and split.sizes() == {"train": 800, "validation": 100, "test": 1000}
    assert not ids["test"] & (ids["train"] | ids["validation"]) and not ids["train"] & ids["validation"]
    assert not texts["test"] & texts["train"]  # no duplicate text across the boundary either
    test_labels = split.label_ids[split.indices("test")]
    assert (test_labels == 0).sum() == (test_labels == 1).sum() == 500
    assert cfg.explain.texts == 200 and cfg.explain.texts < len(ids["test"])
    assert cfg.train.predict_precision == "train"  # predictions at the training precision (docs/performance.md)


def test_adding_a_seed_and_a_method_recomputes_exactly_the_stale_stages(study_run, tmp_path):
    """`stablex run` after [train] seeds and [explain] methods grew: every artefact that rests on
    the seeds or methods is rebuilt from all of them; what does not (the first seeds'
    explanations, the cached features, faithfulness of seed 0's model for lrp) is kept."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(study_run.run, run)
    kept = {
        p: (run / p).stat().st_mtime_ns
        for p in ("explanations/lrp/seed-0.parquet", "explanations/lrp@train/seed-1.parquet")
    }
    features_before = pq.read_table(run / "features" / "features.parquet")
    faith_before = json.loads((run / "explanations" / "faithfulness.json").read_text())["methods"]
    cfg = study_run.cfg.replace("train", seeds=[0, 1, 2])
    cfg = cfg.replace("explain", methods=[*cfg.explain.methods, "chefer"])
    res = run_study(cfg, run, show_progress=False)
    assert {p: (run / p).stat().st_mtime_ns for p in kept} == kept
    assert pq.read_table(run / "features" / "features.parquet").equals(features_before)  # cached per text
    assert "hybrid" not in res.skipped and "faithfulness" not in res.skipped

    def record(path):
        return json.loads((run / path).read_text())

    for method in ("lrp", "gxi", "chefer"):
        assert record(f"analysis/{method}/summary.json")["seeds"] == [0, 1, 2]
    assert record("explanations/features/summary.json")["seeds"] == [0, 1, 2]
    stability = record("features/stability.json")
    assert stability["method"] == "lrp" and stability["transformer_seeds"] == [0, 1, 2]
    assert next(p for p in stability["points"] if p["model"] == "transformer")["n_models"] == 3
    assert sorted(record("hybrid/metrics.json")["seeds"]) == [0, 1, 2]
    faith_record = record("explanations/faithfulness.json")
    faith = faith_record["methods"]
    assert set(faith) == {"lrp", "gxi", "chefer", "random"}
    assert faith_record["seeds"] == [0, 1, 2]  # faithfulness_seeds = 3: the new seed is scored too
    for crit in ("comprehensiveness", "sufficiency"):  # seeds 0 and 1's models: their scores unchanged
        assert faith["lrp"]["per_seed"][crit][:2] == faith_before["lrp"]["per_seed"][crit]
    again = run_study(cfg, run, show_progress=False, stages=("features", "hybrid"))
    assert "hybrid" in again.skipped  # now current
