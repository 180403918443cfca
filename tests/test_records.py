"""Typed records (stablex.records): the schema version, old records read as version 1, and one
clear error naming the file for a record another stablex version wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stablex.errors import StablexError
from stablex.explain.faithfulness import compare
from stablex.records import SCHEMA, FaithfulnessRecord
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
