"""Multi-seed fine-tuning on the real encoder and corpus: accuracy, determinism, resume, refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from conftest import small_study
from stablex import api
from stablex.config import StudyConfig
from stablex.errors import ConfigMismatchError, StablexError
from stablex.models.classifier import load_seed_model
from stablex.rundir import Run
from stablex.train.layers import lower_states, upper_logits
from stablex.train.seeds import derive_seeds
from stablex.train.sweep import train


def logits_of(run: Path, seed: int) -> np.ndarray:
    t = pq.read_table(run / "seeds" / str(seed) / "predictions.parquet")
    return np.stack([t.column(c).to_numpy() for c in t.column_names if c.startswith("logit_")], 1)


def test_two_seeds_beat_the_majority_rate(trained_run):
    run, _ = trained_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["split_sizes"] == {"train": 280, "validation": 20, "test": 100}
    assert manifest["corpus"]["sha256"].startswith("dff6c860")
    assert manifest["model"]["base"]["vocab_size"] < 20000  # trimmed from 250,037 rows
    for seed in (0, 1):
        m = json.loads((run / "seeds" / str(seed) / "metrics.json").read_text())
        assert m["accuracy"]["test"] >= 0.7  # balanced test split: majority rate 0.5
        assert set(m) >= {"init_seed", "order_seed", "dropout_seed", "macro_f1", "loss", "train_seconds"}
    t = pq.read_table(run / "seeds" / "0" / "predictions.parquet")
    assert t.column_names == [
        "doc_id",
        "split",
        "label",
        "pred",
        "prob_news",
        "prob_opinion",
        "logit_news",
        "logit_opinion",
    ]
    assert not np.allclose(logits_of(run, 0), logits_of(run, 1))  # seeds differ


def test_stored_seed_reloads_to_the_same_predictions(trained_run):
    run, cfg = trained_run
    loaded = load_seed_model(run, 0)
    split = pq.read_table(run / "split.parquet").to_pydict()
    test = [i for i, s in enumerate(split["split"]) if s == "test"][:8]
    enc = loaded.encode([split["text"][i] for i in test], cfg.corpus.max_tokens)
    precision = json.loads((run / "seeds" / "0" / "metrics.json").read_text())["predict_precision"]
    k = Run(run).config().model.freeze_layers  # "half" resolved to a number
    with torch.no_grad():
        logits = loaded.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits.numpy()
        # the stored predictions' path: the frozen layers in float32, the upper ones at `precision`
        hidden = lower_states(loaded.model, enc.input_ids, enc.attention_mask, k)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            same_path = upper_logits(loaded.model, hidden, enc.attention_mask, k).float().numpy()
    stored = logits_of(run, 0)[test]
    np.testing.assert_allclose(same_path, stored, atol=1e-4)
    # float32 end to end: equal where the predictions are float32, within bfloat16's rounding otherwise
    np.testing.assert_allclose(logits, stored, atol=1e-4 if precision == "float32" else 2e-2)


def test_bfloat16_predictions_agree_with_float32(trained_run):
    """The real model's predictions of every split text at the training precision (bfloat16 here)
    against float32: logits within bfloat16's rounding, the same predicted class but for texts
    on the decision boundary, accuracy within one text in a hundred."""
    from stablex.progress import progress_or
    from stablex.train.loop import predict, predict_precision
    from stablex.train.sweep import _sweep_inputs

    run, cfg = trained_run
    run = Run(run)
    stored = run.config()
    if predict_precision(stored.train.replace(predict_precision="train")) != "bfloat16":
        pytest.skip("this CPU has no native bfloat16: predictions are float32")
    with progress_or(None, disable=True) as prog:
        data = _sweep_inputs(run, stored, prog)
    loaded = load_seed_model(run.path, 0)
    k = stored.model.freeze_layers
    f32 = predict(loaded.model, data.everything, k, data.pad_id, 32, "float32")
    b16 = predict(loaded.model, data.everything, k, data.pad_id, 32, "bfloat16")
    # what the seed stored, at its predict_precision (float32 unless the study asks for "train")
    np.testing.assert_allclose(
        b16 if predict_precision(stored.train) == "bfloat16" else f32, logits_of(run.path, 0), atol=1e-4
    )
    gap = np.abs(b16 - f32).max()
    assert 0 < gap < 2e-2, gap  # bfloat16 products do differ, by about its rounding (8 bits of mantissa)
    assert b16.dtype == np.float32
    labels = data.everything.labels
    assert (b16.argmax(1) == f32.argmax(1)).mean() >= 0.99
    assert abs((b16.argmax(1) == labels).mean() - (f32.argmax(1) == labels).mean()) <= 0.01


def test_another_config_is_refused_unless_forced(trained_run):
    run, cfg = trained_run
    other = StudyConfig.from_dict(cfg.to_dict() | {"train": cfg.to_dict()["train"] | {"lr": 3e-4}})
    with pytest.raises(ConfigMismatchError, match="created with another configuration"):
        train(other, run, show_progress=False)


def test_pinned_sources():
    a, b = derive_seeds(0, {"order_seed": 7}), derive_seeds(1, {"order_seed": 7})
    assert a.order_seed == b.order_seed == 7
    assert a.init_seed != b.init_seed and a.dropout_seed != b.dropout_seed
    assert derive_seeds(5) == derive_seeds(5)


def test_too_many_frozen_layers_is_refused(lemonde_path, tmp_path):
    cfg = small_study(lemonde_path, model={"freeze_layers": 8}, corpus={"max_docs": 40})
    with pytest.raises(StablexError, match=r"\[model\] freeze_layers = 8: at most half of the 12 layers"):
        train(cfg, tmp_path / "r", show_progress=False)


def _cli(out: Path, corpus: Path, seeds: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stablex.cli",
        "train",
        "--corpus",
        str(corpus),
        "--preset",
        "quick",
        "--max-docs",
        "200",
        "--max-tokens",
        "32",
        "--seeds",
        seeds,
        "--threads",
        "2",
        "--out",
        str(out),
    ]


def test_sigkill_loses_at_most_the_seed_in_progress_and_same_seed_is_bit_identical(lemonde_path, tmp_path):
    """A sweep of seeds 0-1 killed while seed 1 trains, then resumed by the CLI, equals a straight
    sweep bit for bit. The straight sweep runs in this process through the API: so seed 1 trained
    alone (the resumed process) and seed 1 trained after seed 0 (in another process) must give the
    same predictions, which is also the same-seed determinism check."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(killed, lemonde_path, "0-1"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not (killed / "seeds" / "0" / "metrics.json").exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # seed 1 has just started (a seed takes seconds)
    proc.wait()
    assert not (killed / "seeds" / "1" / "metrics.json").exists()  # the kill landed inside seed 1
    resumed = subprocess.run(_cli(killed, lemonde_path, "0-1"), env=env, check=True, capture_output=True, text=True)
    assert "trained 1 seed(s), 1 already done" in " ".join(resumed.stdout.split())  # only seed 1 lost
    straight = tmp_path / "straight"
    cfg = StudyConfig.from_toml(killed / "study.toml")  # the CLI's resolved study
    assert cfg.train.seeds == [0, 1]
    train(cfg, straight, show_progress=False)
    for seed in (0, 1):
        assert np.array_equal(logits_of(killed, seed), logits_of(straight, seed))
    leftovers = [p for p in killed.rglob("*.tmp")]
    assert leftovers == []


def test_cli_reports_bad_input_in_one_line(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text('id,title,label\n"a","x","news"\n"a","y","opinion"\n')
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "stablex.cli",
            "train",
            "--corpus",
            str(bad),
            "--text",
            "title",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "c.csv: column 'id', row 2: duplicate id 'a'" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_model_not_found_offline_is_one_clear_error(tmp_path):
    from stablex.models.resolve import resolve_model

    with pytest.raises(StablexError, match=r"\[model\] name = 'no-such-org/no-such-model': not found offline"):
        resolve_model("no-such-org/no-such-model")
    empty = tmp_path / "ckpt"
    empty.mkdir()
    with pytest.raises(StablexError, match="has no config.json"):
        resolve_model(str(empty))


def test_models_prints_accuracy_and_equivalence(trained_run):
    run, _ = trained_run
    r = subprocess.run([sys.executable, "-m", "stablex.cli", "models", str(run)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    accs = [json.loads((run / "seeds" / str(s) / "metrics.json").read_text())["accuracy"]["test"] for s in (0, 1)]
    assert f"{np.mean(accs):.4f}" in r.stdout and "equivalent" in r.stdout


def test_precision_is_resolved_recorded_and_part_of_the_identity(trained_run, lemonde_path, tmp_path):
    import tomllib

    from stablex.train.loop import native_bfloat16

    run, cfg = trained_run
    assert cfg.train.precision == "auto"  # the quick preset's; the caller's config is not changed
    expected = "bfloat16" if native_bfloat16(torch.device("cpu")) else "float32"
    assert tomllib.loads((run / "study.toml").read_text())["train"]["precision"] == expected
    other = cfg.replace("train", precision="float32" if expected == "bfloat16" else "bfloat16")
    with pytest.raises(ConfigMismatchError, match="created with another configuration"):
        train(other, run, show_progress=False)
    with pytest.raises(StablexError, match=r"\[train\] precision = 'half': must be one of float32, bfloat16"):
        small_study(lemonde_path, train={"precision": "half"})
    with pytest.raises(StablexError, match=r"\[train\] precision = 'half'"):  # the API's override path
        api.train(cfg, tmp_path / "r", show_progress=False, train={"precision": "half"})
    assert not (tmp_path / "r").exists()


def test_bfloat16_steps_keep_float32_weights_and_are_deterministic():
    """Mechanics on a tiny random model: autocast changes the updates, not the weights' dtype."""
    from transformers import BertConfig, BertForSequenceClassification

    from stablex.config import TrainConfig
    from stablex.train.loop import Inputs, fit

    def trained(precision: str) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = BertForSequenceClassification(
            BertConfig(
                vocab_size=50,
                hidden_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=128,
                num_labels=2,
            )
        )
        g = torch.Generator().manual_seed(1)
        data = Inputs(
            ids=[torch.randint(3, 50, (int(n),), generator=g) for n in torch.randint(5, 20, (24,), generator=g)],
            labels=np.arange(24) % 2,
        )
        fit(model, data, derive_seeds(0), TrainConfig(batch_size=8, lr=1e-3, epochs=1, precision=precision), 0, 0)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    f32, b16, b16_again = trained("float32"), trained("bfloat16"), trained("bfloat16")
    assert all(v.dtype == torch.float32 for k, v in b16.items() if v.is_floating_point())
    assert all(torch.equal(b16[k], b16_again[k]) for k in b16)
    assert not torch.equal(f32["classifier.weight"], b16["classifier.weight"])


def test_a_second_training_process_on_one_run_is_refused(trained_run, tmp_path):
    """While one process trains RUN/, another `stablex train --out RUN` stops at once (it would
    train the same seeds); once the first is done it resumes normally."""
    from stablex.rundir import lock_run

    run, _ = trained_run
    cmd = [sys.executable, "-m", "stablex.cli", "train", "--out", str(run), "--config", str(run / "study.toml")]
    with lock_run(run):
        held = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert held.returncode == 2, held.stderr
    assert "another stablex process is training this run" in " ".join(held.stderr.split())
    free = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert free.returncode == 0 and "trained 0 seed(s), 2 already done" in free.stdout, free.stderr
    fresh = tmp_path / "never"
    with lock_run(fresh):
        assert fresh.is_dir()
    assert not fresh.exists()  # a directory the lock made and nothing filled is removed


def test_a_damaged_seed_file_is_named(trained_run, tmp_path):
    import shutil

    run, _ = trained_run
    copy_ = tmp_path / "copy"
    shutil.copytree(run, copy_, ignore=shutil.ignore_patterns("1"))
    weights = copy_ / "seeds" / "0" / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated, as by a full disk
    with pytest.raises(
        StablexError,
        match=r"seeds/0/model/model\.safetensors: cannot be read .* delete seeds/0 "
        r"and rerun `stablex train` to retrain seed 0",
    ):
        load_seed_model(copy_, 0)


def test_predict_precision_enters_the_identity_only_where_it_changes_results():
    """float32 predictions (the option's old behaviour, or float32 training) keep the hash of runs
    made before the option; bfloat16 predictions are another configuration."""
    from stablex.io import sha256_json

    def identity(precision: str, predict: str) -> str:
        cfg = StudyConfig.from_dict({"train": {"precision": precision, "predict_precision": predict}})
        return sha256_json(cfg.training_identity())

    before = StudyConfig.from_dict({"train": {"precision": "bfloat16"}}).training_identity()
    before["train"].pop("predict_precision", None)
    assert identity("bfloat16", "float32") == sha256_json(before)  # a run made before the option
    assert identity("float32", "train") == identity("float32", "float32")  # float32 training: no change
    assert identity("bfloat16", "train") != identity("bfloat16", "float32")
    with pytest.raises(StablexError, match=r"\[train\] predict_precision = 'bf16': must be one of train, float32"):
        StudyConfig.from_dict({"train": {"predict_precision": "bf16"}})


def test_predict_runs_the_upper_layers_at_the_given_precision():
    """Mechanics on a tiny random model (the real model's agreement: the test above): float32 is the
    plain forward exactly; bfloat16 returns float32 logits that differ by bfloat16's rounding."""
    from transformers import BertConfig, BertForSequenceClassification

    from stablex.train.loop import Inputs, cache_lower, predict

    torch.manual_seed(0)
    model = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    ).eval()
    g = torch.Generator().manual_seed(1)
    ids = [torch.randint(3, 50, (int(n),), generator=g) for n in torch.randint(5, 20, (12,), generator=g)]
    data = Inputs(ids=ids, labels=np.zeros(12, dtype=np.int64))
    cache_lower(model, data, 1, 0, 4)
    with torch.no_grad():
        plain = np.concatenate([model(input_ids=x[None]).logits.numpy() for x in ids])
    f32 = predict(model, data, 1, 0, 4, "float32")
    b16 = predict(model, data, 1, 0, 4, "bfloat16")
    assert f32.dtype == b16.dtype == np.float32
    np.testing.assert_allclose(f32, plain, atol=1e-5)
    gap = np.abs(b16 - f32).max()
    assert 0 < gap < 5e-2, gap
