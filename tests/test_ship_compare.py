"""scripts/ship_compare.py: a compare record becomes the report's measured protocol effect, with
what made it (command, both runs' config hashes and study names)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from stablex.records import ComparisonRecord
from stablex.report import protocol

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("ship_compare", ROOT / "scripts" / "ship_compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(path: Path, name: str, config_hash: str) -> Path:
    path.mkdir()
    (path / "manifest.json").write_text(json.dumps({"config_hash": config_hash}))
    (path / "study.toml").write_text(f'name = "{name}"\n')
    return path


def test_shipped_comparison_is_what_the_protocol_note_quotes(tmp_path):
    ship = _script()
    a, b = _run(tmp_path / "frozen", "lemonde-frozen", "aa" * 32), _run(tmp_path / "full", "lemonde-full", "bb" * 32)
    metric = {"label": "median Spearman rho", "difference": -0.0412, "ci": [-0.08, -0.01], "conclusion": "differs"}
    record = ComparisonRecord(
        method="lrp",
        run_a=str(a),
        run_b=str(b),
        paired=True,
        n_texts={"a": 300, "b": 300},
        seeds={"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4]},
        metrics={"spearman": metric},
        k=10,
        bootstrap=500,
        permutations=9999,
        smallest_p=0.0079,
        conclusive=True,
    )
    src = record.write(tmp_path / "cmp.json")
    command = f"stablex compare {a} {b} --method lrp"
    path = ship.ship("freeze_layers", src, command, tmp_path / "measured")
    shipped = json.loads(path.read_text())
    assert shipped["protocol_key"] == "freeze_layers" and shipped["command"] == command
    assert shipped["runs"]["a"] == {"path": "frozen", "config_hash": "aa" * 32, "study": "lemonde-frozen"}
    assert shipped["runs"]["b"]["config_hash"] == "bb" * 32 and shipped["metrics"] == record.metrics
    text = protocol._measured_effect(None, "freeze_layers", tmp_path / "measured")
    assert "median Spearman rho -0.041" in text and "5 / 5 seeds" in text and "differs" in text
    with pytest.raises(SystemExit, match="KEY 'dropout'"):
        ship.ship("dropout", src, command, tmp_path / "measured")
    with pytest.raises(SystemExit, match="no such compare record"):
        ship.ship("freeze_layers", tmp_path / "missing.json", command, tmp_path / "measured")
