"""Issue 21's new-user pass: every case is one `error:` line (exit 2) with nothing written, or
the behaviour the README promises. The commands run in this process (`stablex.cli.main`) on
copies of the suite's real trained run (conftest.trained_run), or refuse before training."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stablex.errors import StablexError


def cli(capsys, *args) -> tuple[int, str, str]:
    """`stablex ARGS` in this process: (exit code, stdout, stderr)."""
    from stablex.cli import main

    argv = sys.argv
    sys.argv = ["stablex", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error(capsys, *args, naming: str | tuple[str, ...] = ()) -> str:
    """Run a command that must be refused: exit 2, one `error:` line naming each of `naming`."""
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in (naming,) if isinstance(naming, str) else naming:
        assert word in lines[0], lines[0]
    return lines[0]


def tiny_args(lemonde_path: Path) -> list[str]:
    return [
        "--corpus",
        str(lemonde_path),
        "--text",
        "title+summary",
        "--label",
        "label",
        "--max-docs",
        "60",
        "--max-tokens",
        "32",
        "--epochs",
        "1",
        "--preset",
        "quick",
    ]


@pytest.fixture
def tiny(trained_run, tmp_path):
    """A copy of the suite's trained run (two real seeds of e5-small), safe to write into."""
    out = tmp_path / "run"
    shutil.copytree(trained_run[0], out)
    return out, trained_run[1]


# -- the CLI's own parsing (D1, D2, D3, D21, D22)
def test_parsing_errors_are_one_line(capsys, tiny, study_run, tmp_path):
    run, _ = tiny
    out = tmp_path / "never"
    one_error(capsys, "train", "--out", out, "--batch-size", "1.5", naming="--batch-size")  # D1
    one_error(capsys, "models", run, "--bogus", naming=("stablex models", "--bogus"))  # D1
    one_error(capsys, "train", "--out", out, "--seeds", "", naming="--seeds")  # D2: "" is not "the default"
    one_error(capsys, "explain", run, "--seeds", "", naming="--seeds")
    one_error(
        capsys,
        "train",
        "--out",
        out,
        "--seeds",
        "1180591620717411303424",  # D3: before training
        naming=("--seeds", "2147483647"),
    )
    two = study_run.run  # D21: two seeds
    one_error(capsys, "models", two, "--sizes", "0,abc", naming=("--sizes", "'0,abc'"))
    one_error(capsys, "models", two, "--sizes", "0", naming=("--sizes", "between 2 and its 2 seeds"))
    one_error(capsys, "models", two, "--sizes", "99", naming="--sizes: 99")
    one_error(
        capsys, "faithfulness", run, "--texts", "0", naming="[explain] faithfulness_texts = 0"
    )  # D22: explain refuses 0 too
    assert not out.exists()


def test_models_on_one_seed_and_on_tied_seeds(capsys, tiny):
    """D20: one seed is refused; seeds tied in accuracy still make a pair of two seeds, and
    identical predictions on a few texts do not show equivalence."""
    from stablex.stats.equivalence import equivalence

    run, _ = tiny
    shutil.rmtree(run / "seeds" / "1")
    shutil.rmtree(run / ".ledger" / "seeds" / "1")  # a run of one seed
    one_error(capsys, "models", run, naming="1 trained seed")
    res = equivalence({3: 0.5, 7: 0.5}, 12, correct={3: np.ones(12, bool), 7: np.ones(12, bool)})
    t = res.subsets[0].tost
    assert {t.best, t.worst} == {3, 7} and not t.equivalent


# -- checks before the first write (D4, D5, D6, D7, D8, D9, D10, D11, D12)
def test_refused_before_anything_is_written(capsys, lemonde_path, tmp_path):
    tiny = tiny_args(lemonde_path)
    out = tmp_path / "r"
    one_error(
        capsys,
        "train",
        *tiny,
        "--seeds",
        "0",
        "--freeze-layers",
        "12",
        "--out",
        out,  # D6
        naming=("freeze_layers = 12", "12 layers", "at most 6"),
    )
    assert not out.exists()  # so the corrected command is not "created with another configuration"
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"num_hidden')  # D4: truncated
    one_error(capsys, "train", *tiny, "--model", model, "--out", out, naming=(str(model / "config.json"), "JSON"))
    (model / "config.json").write_text('{"num_hidden_layers": 6, "max_position_embeddings": 512}')
    one_error(capsys, "train", *tiny, "--model", model, "--out", out, naming=(str(model), "no weights"))
    one_error(capsys, "train", *tiny[:2], "--text", "title+", "--out", out, naming="'title+'")  # D5
    afile = tmp_path / "a-file"
    afile.write_text("x")
    one_error(capsys, "train", *tiny, "--out", afile, naming=(str(afile), "not a directory"))  # D7
    one_error(capsys, "train", *tiny, "--config", tmp_path, "--out", out, naming=(str(tmp_path), "directory"))  # D8
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\n[explain]\nmethods = ["nope"]\n')  # D9: refused by train already
    one_error(
        capsys, "train", *tiny, "--config", study, "--out", out, naming=(str(study), "[explain] methods", "'nope'")
    )
    head = tmp_path / "head.csv"  # the corpus's first 400 rows: several sections hold a single text
    with gzip.open(lemonde_path, "rt", encoding="utf-8", newline="") as f:
        rows = list(itertools.islice(csv.reader(f), 401))
    with open(head, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    for balance in ([], ["--balance"]):  # D10, D11: the class is named, whatever the sampling
        one_error(
            capsys,
            "train",
            "--corpus",
            head,
            "--label",
            "section",
            "--max-docs",
            "300",
            *balance,
            "--out",
            out,
            naming=("column 'section'", "only 1 text(s)", "class '"),
        )
    listed = tmp_path / "listed.parquet"  # D12
    pq.write_table(pa.table({"id": ["1", "2"], "title": [["a", "b"], ["c"]], "label": ["x", "y"]}), listed)
    one_error(capsys, "train", "--corpus", listed, "--text", "title", "--out", out, naming=("column 'title'", "list<"))
    assert not out.exists()


def test_quick_preset_freezes_half_of_the_encoder(tiny, tmp_path):
    """D6: the quick preset's "half" is resolved from the encoder's config.json: 6 of e5-small's
    12 layers (recorded in the run's study.toml), 3 of a 6-layer encoder."""
    from stablex.config import StudyConfig
    from stablex.train.sweep import resolve_encoder

    run, cfg = tiny
    assert StudyConfig.from_dict({"preset": "quick"}).model.freeze_layers == "half"
    assert StudyConfig.from_toml(run / "study.toml").model.freeze_layers == 6
    six = tmp_path / "six"
    six.mkdir()
    (six / "config.json").write_text(
        json.dumps({"model_type": "bert", "num_hidden_layers": 6, "max_position_embeddings": 512})
    )
    (six / "model.safetensors").write_bytes(b"")
    small = cfg.replace("model", name=str(six))
    assert resolve_encoder(small).model.freeze_layers == 3
    with pytest.raises(StablexError, match=r"\[model\] freeze_layers = 4: at most half of the 6 layers"):
        resolve_encoder(small.replace("model", freeze_layers=4))


def test_a_field_over_a_megabyte_is_read(tmp_path):
    """D13: a valid CSV with one text over ~1 MB (pyarrow's block) is read whole."""
    from stablex.config import CorpusConfig
    from stablex.data.corpus import load_corpus

    big = "mot " * 400_000  # 1.6 MB
    path = tmp_path / "big.csv"
    path.write_text('id,title,label\n1,"' + big + '",a\n2,court,b\n3,autre,a\n', encoding="utf-8")
    corpus = load_corpus(CorpusConfig(path=str(path), text="title", label="label"))
    assert [len(t) for t in corpus.texts] == [len(big.strip()), 5, 5]


# -- permissions and concurrency (D17, D19, D23)
def test_artefacts_follow_the_umask(trained_run):
    """D23: under umask 022 (this suite's) every artefact is 0644 and every folder 0755 (the ledger's too)."""
    mask = os.umask(0o022)
    os.umask(mask)
    assert mask == 0o022
    run, _ = trained_run
    paths = [run, *run.rglob("*")]
    modes = {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_file()}
    dirs = {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_dir()}
    assert modes == {0o644} and dirs == {0o755}
    assert (run / ".ledger" / "seeds" / "0" / "predictions.parquet.json").is_file()


def test_a_read_only_run_is_one_line(tiny):
    """D17: a colleague (another user) can read the shared run, and `stablex report` there is
    one line naming the run it cannot write, before any work, not a PermissionError on a .tmp file."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run the command as another user")
    run, _ = tiny
    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(shared, 0o755)
        copy_ = shared / "run"
        shutil.copytree(run, copy_)
        cmd = [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-m",
            "stablex.cli",
            "report",
            str(copy_),
        ]
        env = dict(os.environ, HOME=str(shared), PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert lines == [
            f"error: {copy_}: not writable by this user; `stablex report` writes its results there "
            "(use a copy of the run, or ask its owner)"
        ], res.stderr
        assert not list(copy_.rglob("*.tmp"))  # nothing half-written left behind
    finally:
        shutil.rmtree(shared)


def _holder(run: Path, seconds: float) -> subprocess.Popen:
    """Another process holding RUN/ as a stablex stage does (an flock on the directory)."""
    code = (
        f"import fcntl, os, time; fd = os.open({str(run)!r}, os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
        f"print('held', flush=True); time.sleep({seconds})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_every_writing_stage_is_locked(capsys, tiny):
    """D19: while another process writes the run, explain (and every writing stage) is refused
    in one line; with --wait it waits for the run to be free and then runs."""
    run, _ = tiny
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    proc = _holder(run, 60)
    try:
        for args in (
            ["explain", run, "--seeds", "0"],
            ["analyze", run],
            ["faithfulness", run],
            ["features", run],
            ["hybrid", run],
            ["report", run],
            ["train", "--config", run / "study.toml", "--out", run],
        ):
            one_error(capsys, *args, naming=(str(run), "another stablex process", "--wait"))
    finally:
        proc.kill()
        proc.wait()
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # nothing written
    proc = _holder(run, 1.5)
    started = time.perf_counter()
    code, out, err = cli(capsys, "report", run, "--wait")
    proc.wait()
    assert code == 0 and "report:" in out, err
    assert time.perf_counter() - started >= 1.0
