"""Damage every artefact kind of a real run (the suite's `study_run`, copied): truncated,
deleted, corrupt JSON. `stablex verify` names each; the stage that reads it refuses in one
line naming the file and the command that rebuilds it; `stablex run` rebuilds what was lost
so that it equals the original (issue 21)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import stablex
from stablex.errors import StablexError
from stablex.io import sha256_file


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def delete(path: Path) -> None:
    path.unlink()


def corrupt(path: Path) -> None:
    path.write_text(path.read_text()[:-7] + "}{")  # same size class, not JSON


# artefact -> (damage, the stage call that must refuse it, the command the error names)
CASES = {
    "split.parquet": (truncate, lambda r: stablex.api.explain(r, "lrp"), "stablex train"),
    "manifest.json": (corrupt, lambda r: stablex.api.models(r), "stablex train"),
    "study.toml": (truncate, lambda r: stablex.analyze(r, "lrp"), "stablex train"),
    "base/model.safetensors": (truncate, lambda r: stablex.api.explain(r, "gxi"), "stablex train"),
    "seeds/0/metrics.json": (corrupt, lambda r: stablex.api.models(r), "stablex train"),
    "seeds/1/predictions.parquet": (delete, lambda r: stablex.api.models(r), "stablex train"),
    "seeds/1/model/model.safetensors": (truncate, lambda r: stablex.api.explain(r, "lrp"), "stablex train"),
    "explanations/lrp/seed-0.parquet": (truncate, lambda r: stablex.analyze(r, "lrp"), "stablex explain"),
    "explanations/lrp/summary.json": (corrupt, lambda r: stablex.analyze(r, "lrp"), "stablex explain"),
    "explanations/lrp@train/seed-1.parquet": (delete, lambda r: stablex.hybrid(r), "--split train"),
    "explanations/faithfulness.json": (corrupt, lambda r: stablex.api.report(r), "stablex faithfulness"),
    "explanations/features/seed-0.parquet": (delete, lambda r: stablex.analyze(r, "features"), "stablex features"),
    "features/features.parquet": (truncate, lambda r: stablex.hybrid(r), "stablex features"),
    "features/model.json": (corrupt, lambda r: stablex.api.report(r), "stablex features"),
    "analysis/lrp/per_text.parquet": (truncate, lambda r: stablex.api.report(r), "stablex analyze"),
    "analysis/gxi/summary.json": (corrupt, lambda r: stablex.api.report(r), "--method gxi"),
    "hybrid/metrics.json": (delete, lambda r: stablex.api.report(r), "stablex hybrid"),
    "hybrid/lexicon.csv": (truncate, lambda r: stablex.api.report(r), "stablex hybrid"),
}


@pytest.fixture(scope="module")
def copied(study_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("damage") / "run"
    shutil.copytree(study_run.run, run)
    return run


def test_every_damage_is_found_and_named_in_one_line(copied):
    from stablex.api import verify

    run = copied
    assert verify(run).ok and not verify(run).problems
    for rel, (damage, stage, command) in CASES.items():
        path = run / rel
        keep = path.read_bytes()
        damage(path)
        try:
            found = verify(run)
            assert not found.ok
            assert [(p.path, p.kind) for p in found.problems] == [
                (rel, "missing" if damage is delete else "damaged")
            ], rel
            with pytest.raises(StablexError) as err:
                stage(run)
            line = str(err.value)
            assert "\n" not in line and str(path) in line and command in line, line
            assert f"stablex run {run / 'study.toml'} --out {run}" in line
        finally:
            path.write_bytes(keep)
    assert verify(run).ok and not verify(run).problems
    assert not (run / "report").exists() or (run / "report" / "index.html").exists()


def test_foreign_files_are_named(copied):
    from stablex.api import verify

    stray = copied / "explanations" / "lrp" / ".seed-2.parquet.x1.tmp"
    stray.write_bytes(b"half")
    try:
        lines = verify(copied).lines()
        assert lines[0] == f"{stray}: foreign (left by a killed writer); remove it"
        assert verify(copied).ok is False
    finally:
        stray.unlink()


def test_stablex_run_rebuilds_what_was_lost_equal_to_the_original(copied, study_run, tmp_path):
    """D14, D15, D16, D18: a truncated seed explanation and a lost summary (as a killed explain
    leaves them), a truncated analysis table, a lost report: `stablex run` rebuilds exactly
    them, equal to the originals; every other artefact is left as it was."""
    from stablex.api import verify
    from stablex.pipeline import run_study

    run = tmp_path / "run"
    shutil.copytree(copied, run)
    lost = [
        "explanations/lrp/seed-1.parquet",
        "explanations/lrp/summary.json",
        "analysis/lrp/per_text.parquet",
        "report/index.html",
    ]
    before = {rel: (run / rel).read_bytes() for rel in lost}
    truncate(run / lost[0])
    delete(run / lost[1])
    truncate(run / lost[2])
    delete(run / lost[3])
    # the explain stage itself redoes a damaged seed file (it used to say "2 already done")
    sums = {p: sha256_file(p) for p in run.rglob("*") if p.is_file() and ".ledger" not in p.parts}
    res = run_study(study_run.cfg, run, show_progress=False)
    assert sorted(res.rebuilt) == sorted(lost)
    assert (run / lost[0]).read_bytes() == before[lost[0]]  # byte for byte: timings stay in summary.json
    old, new = json.loads(before[lost[1]]), json.loads((run / lost[1]).read_text())
    assert new["conservation"] == old["conservation"] and new["randomisation"] == old["randomisation"]
    assert sorted(new["seeds"]) == ["0", "1"] and new["texts"] == old["texts"]
    rebuilt, original = pq.read_table(run / lost[2]), pq.read_table(pa_buffer(before[lost[2]]))
    assert rebuilt.schema == original.schema and rebuilt.num_rows == original.num_rows
    for name in original.schema.names:  # NaN equals NaN here (Table.equals says it does not)
        a, b = rebuilt.column(name), original.column(name)
        if pa.types.is_list(a.type) or pa.types.is_fixed_size_list(a.type) or pa.types.is_large_list(a.type):
            a, b = pc.list_flatten(a), pc.list_flatten(b)
        if pa.types.is_floating(a.type):
            np.testing.assert_array_equal(
                a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False), err_msg=name
            )
        else:
            assert a.to_pylist() == b.to_pylist(), name
    assert (run / lost[3]).exists()
    changed = {p for p, h in sums.items() if not p.exists() or sha256_file(p) != h}
    allowed = {run / "explanations/lrp/seed-1.parquet"}  # truncated, now whole again
    allowed |= {p for p in sums if p.parent == run / "analysis" / "lrp"}  # the analysis is one unit (timings)
    assert changed <= allowed, sorted(map(str, changed - allowed))
    assert verify(run).ok and not verify(run).problems


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.BufferReader(data)
