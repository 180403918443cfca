"""Typed records (stablex.records): the schema version, old records read as version 1, and one
clear error naming the file for a record another stablex version wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stablex.errors import StablexError
from stablex.explain.faithfulness import compare
from stablex.records import SCHEMA, AnalysisSummary, ComparisonRecord, FaithfulnessRecord, SeedMetrics
from stablex.report.data import MethodAnalysis, ReportData
from stablex.report.verdict import method_rows, render


def _v1(n: int = 40) -> dict:
    """faithfulness.json as a stablex before record schemas wrote it: no "schema", no "baselines"."""
    rng = np.random.default_rng(0)
    base_c, base_s = rng.normal(0.05, 0.05, n), rng.normal(0.26, 0.05, n)
    methods = {
        name: {
            "comprehensiveness_aopc": float(c.mean()),
            "sufficiency_aopc": float(s.mean()),
            "per_text": {"comprehensiveness": c.tolist(), "sufficiency": s.tolist()},
        }
        for name, c, s in (("random", base_c, base_s), ("lrp", base_c + 0.2, base_s - 0.1))
    }
    compare(methods, 200, 0)
    return {"seeds": [0, 1], "seed": 0, "n_texts": n, "n": n, "methods": methods}


def test_a_record_without_schema_is_read_as_version_1_with_the_readers_floor(tmp_path):
    path = tmp_path / "faithfulness.json"
    path.write_text(json.dumps(_v1()))
    rec = FaithfulnessRecord.read(path, baselines=["random"])
    assert rec.schema == 1 and rec.floor == "random" and rec.n_texts == 40 and rec.seeds == [0, 1]
    assert set(rec.explanations()) == {"lrp"} and rec.vs_floor("lrp")["comprehensiveness_gain"] > 0
    # the report reads it: lrp is above the floor by both criteria
    d = ReportData(tmp_path, {}, "", ["news", "opinion"])
    metric = {"median": 0.9, "median_ci": [0.85, 0.95], "n_texts": 40}
    d.analyses = {"lrp": MethodAnalysis("lrp", {"n_seeds": 2, "metrics": {"spearman": metric}}, {})}
    d.faithfulness = rec
    assert [(r.name, r.status) for r in method_rows(d)] == [("lrp", "above")]
    assert "lrp is more faithful than a random ranking by both criteria" in render(d).replace("<b>", "").replace(
        "</b>", ""
    )


def test_written_records_carry_the_schema_and_read_back_equal(tmp_path):
    rec = FaithfulnessRecord.from_dict({**_v1(), "baselines": ["random"]}, "x")  # "n": a v1 key, dropped
    path = rec.write(tmp_path / "faithfulness.json")
    stored = json.loads(path.read_text())
    assert stored["schema"] == SCHEMA == 2 and stored["baselines"] == ["random"] and "n" not in stored
    again = FaithfulnessRecord.read(path)
    assert again.schema == SCHEMA and again.to_dict() == stored


@pytest.mark.parametrize("schema", [3, 0, "2", True])
def test_a_record_of_another_schema_is_one_error_naming_the_file(tmp_path, schema):
    path = tmp_path / "explanations" / "faithfulness.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**_v1(), "baselines": ["random"], "schema": schema}))
    with pytest.raises(
        StablexError,
        match=rf"{path}: record schema {schema!r}, written by another stablex version.*"
        r"rerun `stablex faithfulness RUN`",
    ):
        FaithfulnessRecord.read(path)


def test_a_current_record_with_unknown_or_missing_keys_is_refused(tmp_path):
    path = tmp_path / "faithfulness.json"
    path.write_text(json.dumps({**_v1(), "baselines": ["random"], "schema": SCHEMA}))  # "n" is no schema-2 key
    with pytest.raises(StablexError, match=rf"{path}: unknown key\(s\) n for schema 2"):
        FaithfulnessRecord.read(path)
    path.write_text(json.dumps({"seeds": [0], "schema": SCHEMA}))
    with pytest.raises(StablexError, match=rf"{path}: missing methods, n_texts; rerun"):
        FaithfulnessRecord.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(StablexError, match=rf"{path}: not a stablex record"):
        FaithfulnessRecord.read(path)
    assert FaithfulnessRecord.read(tmp_path / "absent.json") is None


def _metrics_v1(seed: int = 3) -> dict:
    """seeds/<seed>/metrics.json as train/sweep.py wrote it before record schemas (no "schema")."""
    return {
        "seed": seed,
        "init_seed": 11,
        "order_seed": 12,
        "dropout_seed": 13,
        "data_seed": 14,
        "group": None,
        "bootstrap": False,
        "accuracy": {"train": 0.95, "validation": 0.81, "test": 0.8},
        "macro_f1": {"train": 0.94, "validation": 0.8, "test": 0.79},
        "loss": {"train": 0.2, "validation": 0.45, "test": 0.5},
        "n": {"train": 700, "validation": 150, "test": 150},
        "final_train_loss": 0.21,
        "n_steps": 88,
        "train_seconds": 41.5,
        "predict_seconds": 3.25,
        "predict_precision": "float32",
        "model_bytes": 1234,
        "threads": 2,
        "device": "cpu",
    }


def test_seed_metrics_of_version_1_read_typed_and_round_trip(tmp_path):
    path = tmp_path / "seeds" / "3" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_metrics_v1()))
    m = SeedMetrics.read(path)
    assert m.schema == 1 and m.seed == 3 and m.test_accuracy == 0.8 and m.n_test == 150 and not m.imported
    assert m.sources() == {"init_seed": 11, "order_seed": 12, "dropout_seed": 13, "data_seed": 14}
    assert (m.n_steps, m.train_seconds, m.predict_precision) == (88, 41.5, "float32")
    again = SeedMetrics.read(m.write(path))
    stored = json.loads(path.read_text())
    assert stored == {**_metrics_v1(), "imported": False, "checkpoint": None, "stored_tensors": None, "schema": SCHEMA}
    assert again.schema == SCHEMA and again.to_dict() == stored
    # an imported seed claims no source; a test file of a few keys (older runs, fixtures) reads too
    imported = SeedMetrics.from_dict({"seed": 0, "imported": True, "init_seed": None, "accuracy": {"test": 0.7}})
    assert imported.sources() == dict.fromkeys(("init_seed", "order_seed", "dropout_seed", "data_seed"))
    assert imported.n_test is None and imported.test_accuracy == 0.7


def test_seed_metrics_readers_go_through_the_record(tmp_path):
    from stablex.stats.load import read_seed_metrics, test_accuracy

    for s, acc in ((0, 0.8), (1, 0.7)):
        d = tmp_path / "seeds" / str(s)
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({**_metrics_v1(s), "accuracy": {"test": acc}}))
    metrics = read_seed_metrics(tmp_path, [0, 1, 2])
    assert sorted(metrics) == [0, 1] and all(isinstance(m, SeedMetrics) for m in metrics.values())
    assert test_accuracy(metrics) == ({0: 0.8, 1: 0.7}, 150)
    (tmp_path / "seeds" / "1" / "metrics.json").write_text(json.dumps({**_metrics_v1(1), "schema": 7}))
    with pytest.raises(StablexError, match=r"seeds/1/metrics.json: record schema 7.*rerun `stablex train`"):
        read_seed_metrics(tmp_path, [0, 1])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema": 3}, r"record schema 3, written by another stablex version"),
        ({"schema": SCHEMA, "n_texts": 4}, r"unknown key\(s\) n_texts for schema 2"),
        ({"seed": "3"}, r"seed = '3': an integer expected"),
        ({"init_seed": 1.5}, r"init_seed = 1.5: an integer or null expected"),
        ({"accuracy": 0.8}, r"accuracy = 0.8: a mapping of split to number expected"),
        ({"n": {"test": None}}, r"n = \{'test': None\}: a mapping of split to number expected"),
        ({"bootstrap": "no"}, r"bootstrap = 'no': true or false expected"),
    ],
)
def test_seed_metrics_of_another_schema_or_shape_is_one_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**_metrics_v1(), **change}))
    with pytest.raises(StablexError, match=rf"{path}: {message}.*rerun `stablex train`"):
        SeedMetrics.read(path)
    path.write_text(json.dumps({"accuracy": {"test": 0.8}}))
    with pytest.raises(StablexError, match=rf"{path}: missing seed; rerun `stablex train`"):
        SeedMetrics.read(path)


def _summary_v1() -> dict:
    """analysis/<method>/summary.json as stats/analyze.py wrote it before record schemas (trimmed)."""
    spearman = {"n_texts": 40, "n_undefined": 0, "median": 0.61, "median_ci": [0.55, 0.66], "mean": 0.6}
    return {
        "method": "lrp",
        "config": {"bootstrap": 20, "equivalent": None},
        "classes": ["news", "opinion"],
        "accuracy": {"available": False, "reason": "no seeds/<seed>/metrics.json with accuracy.test"},
        "equivalent": None,
        "seeds": [0, 1, 2],
        "n_seeds": 3,
        "n_texts": 40,
        "n_words": 5210,
        "words_per_text": {"min": 40, "median": 130.0, "max": 310},
        "dropped": {"incomplete_texts": 0},
        "sign_convention": "relevance toward 'opinion'",
        "target_agreement_mean": 0.97,
        "rng_seed": 0,
        "metrics": {"spearman": spearman},
        "reliability": {"available": False, "reason": "fewer than 2 seeds"},
        "sources": {"available": False},
        "timings": {"load_seconds": 0.5},
        "lexicon": {"top": []},
    }


def test_analysis_summary_of_version_1_reads_typed_and_round_trips(tmp_path):
    path = tmp_path / "analysis" / "lrp" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_summary_v1()))
    rec = AnalysisSummary.read(path)
    assert rec.schema == 1 and rec.method == "lrp" and rec.seeds == [0, 1, 2] and rec.n_texts == 40
    assert rec.metric("spearman")["median_ci"] == [0.55, 0.66] and rec.metric("kendall") == {}
    again = AnalysisSummary.read(rec.write(path))
    stored = json.loads(path.read_text())
    assert stored == {**_summary_v1(), "schema": SCHEMA} and again.to_dict() == stored


def test_the_report_reads_summaries_through_the_record(tmp_path):
    from stablex.report.data import load

    path = tmp_path / "analysis" / "lrp" / "summary.json"
    path.parent.mkdir(parents=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"classes": ["news", "opinion"]}))
    path.write_text(json.dumps(_summary_v1()))
    d = load(tmp_path)
    assert d.analyses["lrp"].record.n_texts == 40 and d.analyses["lrp"].summary["metrics"]["spearman"]["median"] == 0.61
    path.write_text(json.dumps({**_summary_v1(), "schema": 9}))
    with pytest.raises(StablexError, match=rf"{path}: record schema 9.*rerun `stablex analyze RUN`"):
        load(tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema": 3}, r"record schema 3, written by another stablex version"),
        ({"schema": SCHEMA, "groups": {}}, r"unknown key\(s\) groups for schema 2"),
        ({"seeds": [0, "1"]}, r"seeds = \[0, '1'\]: a list of integers expected"),
        ({"n_texts": 40.0}, r"n_texts = 40.0: an integer expected"),
        ({"metrics": {"spearman": 0.6}}, r"metrics: a mapping of statistic to its summary"),
        ({"sources": []}, r"sources: a mapping expected"),
    ],
)
def test_analysis_summary_of_another_schema_or_shape_is_one_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({**_summary_v1(), **change}))
    with pytest.raises(StablexError, match=rf"{path}: {message}.*rerun `stablex analyze RUN`"):
        AnalysisSummary.read(path)


def _comparison_v1() -> dict:
    """compare/<B>-<method>.json as `Comparison.to_dict` wrote it before record schemas."""
    spearman = {"label": "Spearman rho", "a": 0.6, "b": 0.5, "difference": 0.1, "ci": [0.02, 0.18]}
    return {
        "method": "lrp",
        "run_a": "/runs/a",
        "run_b": "/runs/b",
        "paired": True,
        "n_texts": {"a": 40, "b": 40},
        "seeds": {"a": [0, 1, 2], "b": [0, 1, 2]},
        "k": 10,
        "bootstrap": 20,
        "permutations": 99,
        "alpha": 0.05,
        "smallest_p": 0.1,
        "seeds_needed": 5,
        "conclusive": False,
        "metrics": {"spearman": {**spearman, "p_value": 0.1, "conclusion": "inconclusive"}},
        "plan": None,
        "notes": ["3 seeds per run: no p below 0.1"],
        "definition": "difference = median over texts in A - median in B",
    }


def test_comparison_of_version_1_reads_typed_renders_and_round_trips(tmp_path):
    from stablex.report.sensitivity import _comparisons
    from stablex.stats.compare import Comparison

    path = tmp_path / "compare" / "b-lrp.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_comparison_v1()))
    rec = ComparisonRecord.read(path)
    assert rec.schema == 1 and rec.paired and rec.n_texts == {"a": 40, "b": 40} and rec.bootstrap == 20
    html = _comparisons([rec])
    assert "lrp: A = <code>/runs/a</code>" in html and "paired by text, 40 / 40 texts, 3 / 3 seeds" in html
    assert "Smallest p this design can reach: 0.100" in html and "inconclusive" in html
    again = ComparisonRecord.read(rec.write(path))
    assert json.loads(path.read_text()) == {**_comparison_v1(), "schema": SCHEMA} == again.to_dict()
    # the writer's dataclass stores the same record (its own names for bootstrap and permutations)
    v1 = _comparison_v1()
    fields = {k: v1[k] for k in ("method", "run_a", "run_b", "paired", "n_texts", "seeds", "metrics", "k", "notes")}
    comp = Comparison(**fields, n_boot=20, n_permutations=99, smallest_p=0.1, seeds_needed=5)
    stored = comp.to_dict()
    assert stored["schema"] == SCHEMA and stored["bootstrap"] == 20 and stored["permutations"] == 99
    assert ComparisonRecord.from_dict(stored, "x").seeds_needed == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema": 3}, r"record schema 3, written by another stablex version"),
        ({"schema": SCHEMA, "n_boot": 20}, r"unknown key\(s\) n_boot for schema 2"),
        ({"n_texts": {"a": 40}}, r"n_texts = \{'a': 40\}: a mapping with keys a and b expected"),
        ({"seeds": {"a": [0], "b": "0-2"}}, r"seeds = .*: lists of integers expected"),
        ({"metrics": []}, r"metrics: a mapping of figure to its comparison"),
    ],
)
def test_comparison_of_another_schema_or_shape_is_one_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "b-lrp.json"
    path.write_text(json.dumps({**_comparison_v1(), **change}))
    with pytest.raises(StablexError, match=rf"{path}: {message}.*rerun `stablex compare RUN_A RUN_B --method METHOD`"):
        ComparisonRecord.read(path)
    path.write_text(json.dumps({k: v for k, v in _comparison_v1().items() if k != "k"}))
    with pytest.raises(StablexError, match=rf"{path}: missing k; rerun `stablex compare"):
        ComparisonRecord.read(path)
