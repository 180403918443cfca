"""The analyze stage on a tiny run directory built by hand, against hand-computed values."""

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stablex.config import AnalyzeConfig
from stablex.errors import StablexError
from stablex.explain.stage import SCHEMA as EXPLANATION_SCHEMA
from stablex.stats.analyze import analyze, format_table, side_by_side

# seed -> doc -> (target, relevance toward target); words: a = Le chat dort, b = Chat, c = x y
EXPL = {
    0: {"a": ("chron", [1.0, 2.0, 3.0]), "b": ("chron", [0.5]), "c": ("actu", [1.0, 1.0])},
    1: {"a": ("actu", [-1.0, -2.0, -3.0]), "b": ("actu", [0.5])},  # toward chron: 1 2 3 and -0.5
    2: {"a": ("chron", [3.0, 2.0, 1.0]), "b": ("chron", [1.0]), "c": ("actu", [0.0, 1.0])},
}
WORDS = {"a": ["Le", "chat", "dort"], "b": ["Chat"], "c": ["x", "y"]}
ACC = {0: 0.90, 1: 0.91, 2: 0.95}


@pytest.fixture()
def run(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"classes": ["actu", "chron"]}))
    (tmp_path / "study.toml").write_text("[train]\norder_seed = 9\ndropout_seed = 9\n")
    folder = tmp_path / "explanations" / "lrp"
    folder.mkdir(parents=True)
    for seed, docs in EXPL.items():
        rows = {
            k: []
            for k in ("seed", "doc_id", "word_index", "word", "start", "end", "relevance", "target", "pred", "logit")
        }
        for doc, (target, rel) in reversed(list(docs.items())):  # unsorted on purpose
            for i, r in enumerate(rel):
                rows["seed"].append(seed)
                rows["doc_id"].append(doc)
                rows["word_index"].append(i)
                rows["word"].append(WORDS[doc][i])
                rows["start"].append(0)
                rows["end"].append(1)
                rows["relevance"].append(r)
                rows["target"].append(target)
                rows["pred"].append(target)
                rows["logit"].append(1.0)
        schema = EXPLANATION_SCHEMA  # what the explain stage writes
        pq.write_table(pa.table(rows, schema=schema), folder / f"seed-{seed}.parquet")
        d = tmp_path / "seeds" / str(seed)
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(
            json.dumps(
                {
                    "seed": seed,
                    "init_seed": seed + 1,
                    "order_seed": 9,
                    "dropout_seed": 9,
                    "data_seed": seed,
                    "accuracy": {"train": 1.0, "validation": 0.9, "test": ACC[seed]},
                    "n": {"test": 100},
                }
            )
        )
    return tmp_path


def strict_json(path):
    def refuse(name):
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_analyze_hand_computed(run):
    res = analyze(run, "lrp", AnalyzeConfig(k=[5], bootstrap=50))
    assert res.seeds == [0, 1, 2] and res.n_texts == 2 and res.n_words == 4
    summary = strict_json(run / "analysis" / "lrp" / "summary.json")
    assert summary["dropped"] == {"incomplete_texts": 1}
    pt = {r["doc_id"]: r for r in pq.read_table(run / "analysis" / "lrp" / "per_text.parquet").to_pylist()}
    a, b = pt["a"], pt["b"]
    # text a, signed toward 'chron': seeds (1 2 3), (1 2 3), (3 2 1)
    assert a["pearson"] == pytest.approx(-1 / 3, abs=1e-6) and a["spearman"] == pytest.approx(-1 / 3, abs=1e-6)
    assert a["pairwise_rank"] == pytest.approx(1 / 3, abs=1e-6)
    assert a["fa_5"] == pytest.approx(1.0) and a["sa_5"] == pytest.approx(1.0)
    assert a["ra_5"] == pytest.approx(5 / 9, abs=1e-6) and a["sra_5"] == pytest.approx(5 / 9, abs=1e-6)
    # signal: mean over distinct pairs of the covariance over words: (2/3 - 2/3 - 2/3) / 3 = -2/9
    # (an unbiased estimate can be negative: the plug-in var of the mean, 2/27, carries noise / S)
    assert a["signal"] == pytest.approx(-2 / 9) and a["noise"] == pytest.approx(8 / 9)
    assert a["snr"] == pytest.approx(-1 / 4)
    assert a["target_agreement"] == pytest.approx(2 / 3)
    # half-split r over every pairing of distinct seeds: (2 - 2 - 2) * 2 / (2 * 6) = -1/3
    assert a["half_r"] == pytest.approx(-1 / 3, abs=1e-6) and a["half_r_n"] == 3 and a["half_r_fisher_lo"] is None
    assert a["fa_5_lo"] <= a["fa_5"] <= a["fa_5_hi"]
    # text b: one word (0.5, -0.5, 1.0)
    assert b["fa_5"] == 1.0 and b["sa_5"] == pytest.approx(1 / 3)
    assert b["spearman"] is None and b["pearson"] is None and b["pairwise_rank"] is None
    assert summary["metrics"]["spearman"]["n_undefined"] == 1
    assert summary["metrics"]["fa_5"]["median"] == pytest.approx(1.0)
    # per word
    pw = pq.read_table(run / "analysis" / "lrp" / "per_word.parquet").to_pylist()
    wb = next(r for r in pw if r["doc_id"] == "b")
    assert wb["mean"] == pytest.approx(1 / 3) and wb["sign_consistency"] == pytest.approx(2 / 3)
    assert wb["consensus_lo"] <= wb["consensus"] <= wb["consensus_hi"]
    assert [r["word"] for r in pw if r["doc_id"] == "a"] == ["Le", "chat", "dort"]
    # lexicon: 'chat' occurs in a (2, 2, 2) and b (0.5, -0.5, 1) toward chron
    lex = {(r["word"], r["class"]): r for r in pq.read_table(run / "analysis" / "lrp" / "lexicon.parquet").to_pylist()}
    chat = lex[("chat", "chron")]
    assert chat["mean_relevance"] == pytest.approx(7 / 6) and chat["count"] == 2 and chat["n_texts"] == 2
    assert chat["sd_seeds"] == pytest.approx(math.sqrt(21) / 12)
    assert lex[("chat", "actu")]["mean_relevance"] == pytest.approx(-7 / 6)
    assert chat["rank"] is None  # fewer than min_count occurrences
    # accuracy side and sources
    acc = summary["accuracy"]
    assert acc["accuracy"]["mean"] == pytest.approx(0.92) and acc["n_test"] == 100
    assert [s["n"] for s in acc["subsets"]] == [3, 2] and acc["subsets"][1]["seeds"] == [0, 1]
    src = summary["sources"]
    assert src["available"] and src["pairs"] == {"init_seed": 3}
    assert src["shares"]["init_seed"]["share"] == pytest.approx(1.0)
    assert summary["reliability"]["curve"][0]["seeds"] == 1
    assert format_table(res).row_count > 10
    assert side_by_side(run).columns[1].header == "lrp"


def test_analyze_equivalent_subset(run):
    res = analyze(run, "lrp", AnalyzeConfig(k=[5], bootstrap=20, equivalent=2))
    assert res.seeds == [0, 1]
    pt = {r["doc_id"]: r for r in pq.read_table(run / "analysis" / "lrp" / "per_text.parquet").to_pylist()}
    assert pt["a"]["pearson"] == pytest.approx(1.0)
    assert set(pt) == {"a", "b"}  # c is still missing from seed 1


def test_analyze_refuses_mismatched_words(run):
    path = run / "explanations" / "lrp" / "seed-2.parquet"
    t = pq.read_table(path)
    wi = t["word_index"].to_numpy().copy()
    wi[0] = 7
    pq.write_table(t.set_column(2, "word_index", pa.array(wi)), path)
    with pytest.raises(StablexError, match="words must match"):
        analyze(run, "lrp", AnalyzeConfig(bootstrap=10))


def test_analyze_missing_method(run):
    with pytest.raises(StablexError, match="no explanations"):
        analyze(run, "ig", AnalyzeConfig())


def test_analyze_writes_paired_stability_differences_between_methods(run):
    """A copy of lrp's explanations is tied with lrp exactly (the same texts and seed draws: the
    paired interval is [0, 0]); a method whose seeds agree more differs by the difference of the
    two median rho, and its interval pairs the same draws."""
    import shutil

    from stablex.rundir import Run
    from stablex.stats.method_diff import lookup

    shutil.copytree(run / "explanations" / "lrp", run / "explanations" / "gxi")
    ig = run / "explanations" / "ig"
    shutil.copytree(run / "explanations" / "lrp", ig)
    t = pq.read_table(ig / "seed-2.parquet").to_pydict()
    t["relevance"] = [r if d != "a" else -r for d, r in zip(t["doc_id"], t["relevance"])]  # flips seed 2 of text a
    pq.write_table(pa.table(t, schema=pq.read_schema(ig / "seed-2.parquet")), ig / "seed-2.parquet")
    cfg = AnalyzeConfig(k=[1], bootstrap=200)
    res = {m: analyze(run, m, cfg) for m in ("lrp", "gxi", "ig")}
    diffs = json.loads(Run(run).stability_differences_path.read_text())
    assert set(diffs["pairs"]) == {"gxi|ig", "gxi|lrp", "ig|lrp"}
    same = lookup(diffs, "lrp", "gxi")
    assert same.difference == 0 and same.ci == [0, 0] and same.verdict() == "tie"
    d = lookup(diffs, "ig", "lrp")
    rho = {m: r.summary["metrics"]["spearman"]["median"] for m, r in res.items()}
    assert d.difference == pytest.approx(rho["ig"] - rho["lrp"]) and d.difference > 0  # ig undoes lrp's seed-2 reversal
    assert d.ci[0] <= d.difference <= d.ci[1] and d.n_texts == 1 and d.n_seeds == 3  # text a: the only one with 3 words
