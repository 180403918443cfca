"""Seeds explained together (`[explain] seeds_per_pass`, `attribute_seeds`): the frozen layers
run once for every seed, and every seed's relevances are the ones it gets alone.

On the suite's real run (conftest.trained_run: e5-small, quick preset, lower 6 layers frozen)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from stablex.errors import StablexError
from stablex.explain.methods import get_method
from stablex.explain.stage import explain, select_texts, shared_layers
from stablex.models.classifier import load_encoder, load_seed_model
from stablex.rundir import Run


@pytest.fixture(scope="module")
def seeds(trained_run):
    path, _ = trained_run
    run = Run(path)
    encoder = load_encoder(run.path)
    models = [load_seed_model(run.path, s, encoder).model for s in (0, 1)]
    texts = select_texts(run, run.config().explain).texts[:12]
    return run, models, encoder(texts, run.config().corpus.max_tokens)


def _max_relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over tokens, relative to each text's largest |a|."""
    return float(((a - b).abs() / a.abs().amax(1, keepdim=True)).max())


@pytest.mark.parametrize("method", ["lrp", "gxi", "chefer", "ig"])
def test_a_pack_explains_each_seed_as_it_is_explained_alone(seeds, method):
    run, models, batch = seeds
    k = shared_layers(run)
    assert k == 6  # the quick preset: half of e5-small's 12 layers frozen
    opts = {"steps": 4} if method == "ig" else {}
    together = get_method(method, models, shared_layers=k, **opts).attribute_seeds(batch, [None, None])
    for model, got in zip(models, together):
        alone = get_method(method, model, **opts).attribute(batch)
        assert _max_relative(alone.relevance, got.relevance) <= 1e-5
        assert torch.equal(alone.target, got.target)
        torch.testing.assert_close(alone.logits, got.logits, rtol=1e-6, atol=1e-6)
        if alone.layer_sums is not None:  # lrp: conservation layer by layer, the shared layers included
            torch.testing.assert_close(alone.layer_sums, got.layer_sums, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(alone.position_type, got.position_type, rtol=1e-5, atol=1e-6)
    # two models, two explanations: the pack did not explain one model twice (after [CLS],
    # which holds chefer's identity start)
    assert _max_relative(together[0].relevance[:, 1:], together[1].relevance[:, 1:]) > 1e-2


def test_the_shared_layers_run_once_per_batch_for_the_whole_pack(seeds, monkeypatch):
    """What makes a pack cheaper: one forward of the frozen layers for every seed, not one each."""
    import stablex.explain.methods as methods

    run, models, batch = seeds
    calls = []
    real = methods.encode_lower
    monkeypatch.setattr(methods, "encode_lower", lambda *a, **kw: calls.append(a[3]) or real(*a, **kw))
    get_method("lrp", models, shared_layers=shared_layers(run)).attribute_seeds(batch, [None, None])
    assert calls == [6]  # once, through the 6 frozen layers, for both seeds
    calls.clear()
    get_method("chefer", models, shared_layers=6).attribute_seeds(batch, [None, None])
    assert calls == [6, 6]  # once per rule set (LRP and plain), not per seed


def test_a_pack_is_refused_when_the_lower_layers_differ(seeds):
    _, models, batch = seeds
    other = load_seed_model(seeds[0].path, 1).model
    with torch.no_grad():
        other.base_model.encoder.layer[2].intermediate.dense.weight[0, 0] += 1e-3
    with pytest.raises(StablexError, match="model 1 differs from model 0 in its embeddings or lower 6 layers"):
        get_method("lrp", [models[0], other], shared_layers=6)
    get_method("lrp", [models[0], other], shared_layers=2)  # layers 0 and 1 are still shared
    with pytest.raises(StablexError, match="made for 2 models; use attribute_seeds"):
        get_method("gxi", models).attribute(batch)


def test_the_stage_names_the_seeds_whose_frozen_layers_differ(trained_run, tmp_path, monkeypatch):
    """A run whose seeds do not share what it says they share is one error naming the run, the
    seeds and the way out; another model error is not taken for it."""
    import stablex.explain.stage as stage

    path, _ = trained_run
    run = tmp_path / "run"
    shutil.copytree(path, run, ignore=shutil.ignore_patterns("explanations", "analysis", "report"))
    monkeypatch.setattr(stage, "shared_layers", lambda r: 8)  # the seeds' layers 6 and 7 were trained
    cfg = Run(run).config().explain.replace(randomisation_texts=0)
    with pytest.raises(StablexError, match=r"seeds 0, 1 do not share the 8 frozen layers .*seeds_per_pass=1"):
        explain(run, "lrp", cfg, show_progress=False)
    assert explain(run, "lrp", cfg.replace(seeds_per_pass=1), show_progress=False).explained == [0, 1]
    monkeypatch.undo()  # the run's own 6 shared layers: chefer's own refusal reaches the user as it is
    chefer = cfg.replace(per_method={"chefer": {"start_layer": 12}})
    with pytest.raises(StablexError, match=r"\[explain.chefer\] start_layer = 12: must be in 0..11") as refused:
        explain(run, "chefer", chefer, show_progress=False)
    assert "frozen layers" not in str(refused.value)


def test_the_stage_writes_the_same_explanations_whatever_the_pack(trained_run, tmp_path):
    """One seed at a time and both seeds in one pass: the same words, relevances, predictions
    and records (timings apart), and one randomisation check, on the first seed."""
    path, _ = trained_run
    tables, summaries = {}, {}
    for spp in (1, 2):
        run = tmp_path / f"spp{spp}"
        shutil.copytree(path, run, ignore=shutil.ignore_patterns("explanations", "analysis", "report"))
        cfg = Run(run).config().explain.replace(seeds_per_pass=spp, randomisation_texts=2)
        res = explain(run, "lrp", cfg, show_progress=False)
        assert res.explained == [0, 1]
        tables[spp] = [pq.read_table(res.out_dir / f"seed-{s}.parquet") for s in (0, 1)]
        summaries[spp] = json.loads((res.out_dir / "summary.json").read_text())
    for one, two in zip(tables[1], tables[2]):
        assert one.column("word").equals(two.column("word")) and one.column("pred").equals(two.column("pred"))
        a, b = one["relevance"].to_numpy(), two["relevance"].to_numpy()
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(a))
    assert summaries[2]["randomisation"]["seed"] == 0
    assert summaries[1]["randomisation"] == summaries[2]["randomisation"]
    assert summaries[2]["seeds"]["0"]["seeds_per_pass"] == 2 and summaries[1]["seeds"]["0"]["seeds_per_pass"] == 1
    for s in ("0", "1"):
        timings = ("seconds", "ms_per_text", "attribution_ms_per_text", "threads", "seeds_per_pass")
        strip = [{k: v for k, v in summaries[p]["seeds"][s].items() if k not in timings} for p in (1, 2)]
        assert strip[0] == strip[1]
