"""End to end on the Le Monde corpus (title + summary): extraction, feature model, stability, hybrid.

The run directory is built here (600 balanced texts, fixed 70/30 train/test split) because
the transformer stages are not needed for the feature model. The hybrid's explanations are
HAND-MADE files that follow the explanation contract (relevance planted on genre words
such as « tribune », noise elsewhere): they test the lexicon machinery and the leakage
guard, not a transformer. A test on real transformer explanations belongs with the explain
stage.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stablex.config import CorpusConfig, FeaturesConfig, HybridConfig, StudyConfig
from stablex.data.corpus import load_corpus
from stablex.errors import StablexError
from stablex.features.extract import extract_features
from stablex.features.hybrid import run_hybrid
from stablex.features.model import fit_feature_model
from stablex.features.stability import compare_stability

CLASSES = ["news", "opinion"]
CUES = ("tribune", "chronique", "éditorial")


@pytest.fixture(scope="module")
def run(tmp_path_factory, lemonde_path) -> Path:
    """600 balanced texts read by the corpus reader (so the hybrid's held-out pool can be drawn from the
    same corpus with the run's [corpus] settings, written to study.toml)."""
    corpus_cfg = CorpusConfig(path=str(lemonde_path))
    corpus = load_corpus(corpus_cfg)
    rng = np.random.default_rng(0)
    label = np.array(corpus.labels)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(label == c), 300, replace=False) for c in CLASSES]))
    texts, labels = [corpus.texts[i] for i in idx], [corpus.labels[i] for i in idx]
    split = np.array(["train"] * len(idx), dtype=object)
    split[rng.permutation(len(idx))[:180]] = "test"
    run = tmp_path_factory.mktemp("run")
    pq.write_table(
        pa.table(
            {
                "doc_id": [corpus.doc_ids[i] for i in idx],
                "split": pa.array(split.tolist()),
                "label": labels,
                "label_id": pa.array([CLASSES.index(x) for x in labels], pa.int8()),
                "text": texts,
            }
        ),
        run / "split.parquet",
    )
    (run / "manifest.json").write_text(json.dumps({"classes": CLASSES}))
    (run / "study.toml").write_text(StudyConfig(corpus=corpus_cfg).to_toml())
    return run


@pytest.fixture(scope="module")
def cfg() -> FeaturesConfig:
    return FeaturesConfig(bootstrap=30, resample_draws=4)


@pytest.fixture(scope="module")
def extracted(run, cfg):
    return extract_features(run, cfg)


def test_extraction_is_cached_per_text(run, cfg, extracted):
    assert extracted.n_parsed == 600
    table = pq.read_table(run / "features" / "features.parquet")
    assert table.column_names == ["doc_id", *extracted.feature_names]
    again = extract_features(run, cfg)
    assert (again.n_cached, again.n_parsed) == (600, 0)
    assert pq.read_table(run / "features" / "features.parquet").equals(table)
    # one changed text is parsed again, the others reused
    split = pq.read_table(run / "split.parquet")
    texts = split.column("text").to_pylist()
    original = texts[0]
    texts[0] = original + " Pourquoi ?"
    pq.write_table(split.set_column(4, "text", pa.array(texts)), run / "split.parquet")
    try:
        assert extract_features(run, cfg).n_parsed == 1
    finally:
        texts[0] = original
        pq.write_table(split, run / "split.parquet")
        assert extract_features(run, cfg).n_parsed == 1


def test_feature_model_beats_the_majority_and_writes_its_word_map(run, cfg, extracted):
    result = fit_feature_model(run, cfg)
    acc = result.metrics["test"]["accuracy"]
    assert acc > result.majority_rate + 0.1, (acc, result.majority_rate)
    coef = {c["name"]: c for c in result.coefficients}
    lo, hi = coef["quotation_marks"]["ci_opinion"]
    assert lo <= coef["quotation_marks"]["coef_opinion"] <= hi and lo > 0  # « » mark opinion titles
    table = pq.read_table(run / "explanations" / "features" / "seed-0.parquet")
    assert table.schema.names == [
        "seed",
        "doc_id",
        "word_index",
        "word",
        "start",
        "end",
        "relevance",
        "target",
        "pred",
        "logit",
    ]
    assert str(table.schema.field("relevance").type) == "float" and str(table.schema.field("start").type) == "int32"
    rows = table.to_pylist()
    texts = dict(zip(*pq.read_table(run / "split.parquet", columns=["doc_id", "text"]).to_pydict().values()))
    assert all(texts[r["doc_id"]][r["start"] : r["end"]] == r["word"] for r in rows[:2000])
    assert set(table.column("doc_id").to_pylist()) <= {
        d
        for d, s in zip(*pq.read_table(run / "split.parquet", columns=["doc_id", "split"]).to_pydict().values())
        if s == "test"
    }
    # additivity: relevance sums to the logit up to one constant per target class
    model = json.loads((run / "features" / "model.json").read_text())
    mean, scale = np.array(model["scaler"]["mean"]), np.array(model["scaler"]["scale"])
    w = np.array([c["coef_opinion"] for c in model["coefficients"]])
    const = model["intercept"][1] - float(w @ (mean / scale))
    by_doc: dict[str, list] = {}
    for r in rows:
        by_doc.setdefault(r["doc_id"], []).append(r)
    for doc_rows in list(by_doc.values())[:50]:
        sign = 1 if doc_rows[0]["target"] == "opinion" else -1
        total = sum(r["relevance"] for r in doc_rows)
        assert total + sign * const == pytest.approx(doc_rows[0]["logit"], abs=1e-3)
        assert doc_rows[0]["target"] == doc_rows[0]["pred"]


def _fake_seeds(run: Path, bootstrap: bool) -> None:
    for s in (0, 1, 2):
        d = run / "seeds" / str(s)
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(
            json.dumps(
                {
                    "seed": s,
                    "init_seed": s,
                    "order_seed": s,
                    "dropout_seed": s,
                    "data_seed": 1000 + s,
                    "bootstrap": bootstrap,
                }
            )
        )


def test_seeds_and_resampling(run, cfg, extracted):
    _fake_seeds(run, bootstrap=False)
    try:
        result = fit_feature_model(run, cfg)
        maps = [pq.read_table(run / "explanations" / "features" / f"seed-{s}.parquet") for s in (0, 1, 2)]
        assert result.seeds == [0, 1, 2] and not result.resampled
        assert maps[0].column("relevance").equals(maps[1].column("relevance"))  # deterministic under seeds
        _fake_seeds(run, bootstrap=True)
        result = fit_feature_model(run, cfg)
        maps = [pq.read_table(run / "explanations" / "features" / f"seed-{s}.parquet") for s in (0, 1, 2)]
        assert result.resampled
        assert not maps[0].column("relevance").equals(maps[1].column("relevance"))
        # the feature maps stand in for transformer explanations of the same seeds (same long format)
        lrp = run / "explanations" / "lrp"
        shutil.copytree(run / "explanations" / "features", lrp, dirs_exist_ok=True)
        for s in (0, 1, 2):
            pq.write_table(
                pa.table({"doc_id": ["x"], "split": ["test"], "label": ["news"], "pred": ["news"]}),
                run / "seeds" / str(s) / "predictions.parquet",
            )
        st = compare_stability(run, cfg, method="lrp")
        kinds = {(p["model"], p["randomness"]): p for p in st.points}
        assert st.deterministic_under_seeds and st.equal_terms
        assert kinds[("features", "seeds")]["agreement"]["spearman"]["mean"] == 1.0
        resampled = kinds[("features", "resampling")]
        assert resampled["data_seeds"] == [1000, 1001, 1002]
        assert 0.5 < resampled["agreement"]["spearman"]["mean"] < 1.0
        # same draws, same code: the stand-in transformer agrees exactly as the feature model does
        assert kinds[("transformer", "resampling")]["agreement"]["spearman"]["mean"] == pytest.approx(
            resampled["agreement"]["spearman"]["mean"], abs=1e-6
        )
        assert json.loads((run / "features" / "stability.json").read_text())["equal_terms"] is True
    finally:
        shutil.rmtree(run / "seeds")
        shutil.rmtree(run / "explanations" / "lrp", ignore_errors=True)


def _hand_made_explanations(run: Path, out: Path, split: str = "train", seeds=(0, 1, 2)) -> None:
    """Contract-shaped explanations: genre words push toward 'opinion', every word gets noise."""
    table = pq.read_table(run / "split.parquet").to_pylist()
    out.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        rng = np.random.default_rng(s)
        cols: dict[str, list] = {k: [] for k in ("doc_id", "word_index", "word", "start", "end", "relevance", "target")}
        for row in (r for r in table if r["split"] == split):
            target = row["label"]  # relevance toward the true class: the sign flips for 'news'
            for i, m in enumerate(re.finditer(r"\S+", row["text"])):
                cue = 3.0 if any(c in m.group().lower() for c in CUES) else 0.0
                cols["doc_id"].append(row["doc_id"])
                cols["word_index"].append(i)
                cols["word"].append(m.group())
                cols["start"].append(m.start())
                cols["end"].append(m.end())
                cols["relevance"].append((cue if target == "opinion" else -cue) + rng.normal(0, 1))
                cols["target"].append(target)
        n = len(cols["doc_id"])
        pq.write_table(
            pa.table(
                {
                    "seed": pa.array(np.full(n, s, np.int32)),
                    "doc_id": cols["doc_id"],
                    "word_index": pa.array(cols["word_index"], pa.int32()),
                    "word": cols["word"],
                    "start": pa.array(cols["start"], pa.int32()),
                    "end": pa.array(cols["end"], pa.int32()),
                    "relevance": pa.array(cols["relevance"], pa.float32()),
                    "target": cols["target"],
                    "pred": cols["target"],
                    "logit": pa.array(np.ones(n), pa.float32()),
                }
            ),
            out / f"seed-{s}.parquet",
        )
    (out / "summary.json").write_text(json.dumps({"split": split}))


HYBRID = HybridConfig(
    bootstrap=300,
    pool_size=400,
    top_words_grid=[10, 25],
    min_freq_grid=[2, 5],
    sign_consistency_grid=[0.8],
    n_words_grid=[3],
    cv_folds=3,
)


def test_hybrid_with_hand_made_explanations(run, extracted):
    expl = run / "explanations" / "lrp@train"
    _hand_made_explanations(run, expl)
    result = run_hybrid(run, HYBRID, expl)
    opinion_words = [e.word for e in result.lexicons["opinion"]]
    assert "tribune" in opinion_words
    assert "tribune" not in [e.word for e in result.lexicons["news"]]
    params = result.selection["variants"][result.consensus["variant"]]["params"]
    assert all(
        e.sign_consistency >= 0.8 and e.doc_freq >= params["min_freq"] for v in result.lexicons.values() for e in v
    )
    assert set(result.variants) == {"counts", "weighted", "words"}
    for v, res in result.variants.items():  # the planted cues help on both pools (power differs)
        for pool, n in (("test", 180), ("held_out", 400)):
            vs = res[pool]["vs_base"]
            assert res[pool]["pool"] == pool and res[pool]["n"] == vs["n"] == n
            assert vs["difference"] > 0 and vs["mcnemar"]["c"] > vs["mcnemar"]["b"], (v, pool, vs)
            assert vs["ci"][0] <= vs["difference"] <= vs["ci"][1]
    assert result.consensus["pool"] == result.variants[result.consensus["variant"]]["held_out"]
    assert result.consensus["variant"] == max(
        result.variants, key=lambda v: result.selection["variants"][v]["cv_accuracy"]
    )
    assert [r["seed"] for r in result.single_seed] == [0, 1, 2]
    metrics = json.loads((run / "hybrid" / "metrics.json").read_text())
    assert metrics["single_seed_summary"]["held_out"]["mean_accuracy"] > 0.5
    assert metrics["pool"]["per_class"] == {"news": 200, "opinion": 200}
    assert metrics["matching"]["rate"] > 0.9 and metrics["n_pool"] == 400
    header = (run / "hybrid" / "lexicon.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "source,class,rank,word,score,sign_consistency,doc_freq,n_seeds"
    # the choice reads the training split only: another pool, the same choice and the same CV scores
    other = run_hybrid(run, dataclasses.replace(HYBRID, pool_size=200, pool_seed=1), expl)
    assert other.selection == result.selection
    assert other.consensus["pool"]["n"] == 200 and other.consensus["vs_base"] == result.consensus["vs_base"]


def test_hybrid_refuses_anything_but_the_training_split(run, extracted):
    test_expl = run / "explanations" / "lrp"
    _hand_made_explanations(run, test_expl, split="test", seeds=(0,))
    try:
        with pytest.raises(StablexError, match="split is 'test'"):
            run_hybrid(run, HybridConfig(), test_expl)
        # a summary that claims 'train' over test texts is refused too
        (test_expl / "summary.json").write_text(json.dumps({"split": "train"}))
        with pytest.raises(StablexError, match="not training texts"):
            run_hybrid(run, HybridConfig(), test_expl)
        (test_expl / "summary.json").unlink()
        with pytest.raises(StablexError, match="summary.json not found"):
            run_hybrid(run, HybridConfig(), test_expl)
    finally:
        shutil.rmtree(test_expl)
