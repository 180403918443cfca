"""Source designs ([train] groups): validation, pins, identity; a real design trained, killed,
resumed and analysed; variance shares checked against a direct computation."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stablex.config import StudyConfig
from stablex.errors import StablexError
from stablex.train.seeds import SOURCES, derive_seeds, plan_seed

GROUPS = [
    {"name": "init", "vary": ["init"], "seeds": [0, 1]},
    {"name": "order", "vary": ["order"], "seeds": [10, 11]},
    {"name": "all", "vary": ["all"], "seeds": [20, 21]},
]


def design(**train) -> StudyConfig:
    return StudyConfig.from_dict({"train": {"groups": GROUPS, **train}})


def test_groups_define_the_seeds_and_pin_the_other_sources():
    cfg = design()
    assert cfg.train.seeds == [0, 1, 10, 11, 20, 21]
    ref = derive_seeds(0)  # pin_seed = 0
    plans = {s: plan_seed(cfg.train, s) for s in cfg.train.seeds}
    assert {g for _, g in plans.values()} == {"init", "order", "all"}
    for s in (0, 1):
        p, _ = plans[s]
        assert (p.order_seed, p.dropout_seed) == (ref.order_seed, ref.dropout_seed)
    assert plans[0][0].init_seed != plans[1][0].init_seed
    for s in (10, 11):
        p, _ = plans[s]
        assert (p.init_seed, p.dropout_seed) == (ref.init_seed, ref.dropout_seed)
    assert plans[10][0].order_seed != plans[11][0].order_seed
    for s in (20, 21):  # "all": every active source its own; data_seed (inactive without bootstrap) pinned
        p, own = plans[s][0], derive_seeds(s)
        assert (p.init_seed, p.order_seed, p.dropout_seed) == (own.init_seed, own.order_seed, own.dropout_seed)
        assert p.data_seed == ref.data_seed


@pytest.mark.parametrize(
    "train, message",
    [
        ({"groups": [{"name": "x", "vary": ["weights"], "seeds": [0]}]}, "unknown source"),
        ({"groups": [{"name": "x", "vary": ["data"], "seeds": [0]}]}, "needs \\[train\\] bootstrap = true"),
        (
            {"groups": [{"name": "x", "vary": ["init"], "seeds": [0]}, {"name": "y", "vary": ["order"], "seeds": [0]}]},
            "seed 0 is also in group 'x'",
        ),
        (
            {"groups": [{"name": "x", "vary": ["init"], "seeds": [0]}, {"name": "x", "vary": ["order"], "seeds": [1]}]},
            "unique among the groups",
        ),
        ({"groups": [{"name": "x", "vary": ["init"], "seeds": "0-4"}]}, "seeds must be a list"),
        ({"groups": [{"name": "x", "vary": ["init"], "seeds": [0], "pin": 3}]}, "unknown key"),
        ({"groups": [{"name": "x", "vary": ["init"], "seeds": [0, 1], "pins": [3]}]}, "one pin per seed"),
        ({"groups": [{"name": "x", "vary": ["init"], "seeds": [0], "pins": 3}]}, "pins = 3"),
        ({"init_seed": 7, "groups": [{"name": "x", "vary": ["init"], "seeds": [0]}]}, "unset \\[train\\] init_seed"),
    ],
)
def test_a_bad_design_is_one_error_naming_the_group(train, message):
    with pytest.raises(StablexError, match=message):
        StudyConfig.from_dict({"train": train})


def test_per_seed_pins_pin_each_seed_to_its_own_reference():
    """`pins`: seed i's pinned sources come from pins[i]; the pins in the "all" group are the
    models of their own references, so each one-source seed differs from its pin's model in that
    source only. Without `pins` the plans are those of one pin (pin_seed), unchanged."""
    groups = [
        {"name": "all", "vary": ["all"], "seeds": [0, 1, 2]},
        {"name": "init", "vary": ["init"], "seeds": [100, 101, 102], "pins": [0, 1, 2]},
        {"name": "order", "vary": ["order"], "seeds": [200, 201, 202], "pins": [0, 1, 2]},
    ]
    cfg = StudyConfig.from_dict({"train": {"bootstrap": True, "groups": groups}})
    for child, pin in ((100, 0), (101, 1), (102, 2)):
        p, ref = plan_seed(cfg.train, child)[0], plan_seed(cfg.train, pin)[0]
        assert p.init_seed != ref.init_seed
        assert (p.order_seed, p.dropout_seed, p.data_seed) == (ref.order_seed, ref.dropout_seed, ref.data_seed)
        assert plan_seed(cfg.train, pin)[0] == derive_seeds(pin)  # the pin's own model: all its sources
    assert plan_seed(cfg.train, 200)[0].order_seed != plan_seed(cfg.train, 0)[0].order_seed
    assert plan_seed(cfg.train, 201)[0].init_seed == derive_seeds(1).init_seed != derive_seeds(0).init_seed
    one_pin = design()  # no pins: every group pinned to pin_seed, as before
    explicit = StudyConfig.from_dict({"train": {"groups": [{**g, "pins": [0] * len(g["seeds"])} for g in GROUPS]}})
    for s in one_pin.train.seeds:
        assert plan_seed(one_pin.train, s) == plan_seed(explicit.train, s)
    assert explicit.training_identity() != one_pin.training_identity()  # the mark says pins are per seed
    grown = [{**g, "seeds": g["seeds"] + [300], "pins": [0, 1, 2, 3]} if g["name"] == "init" else g for g in groups]
    grown_cfg = StudyConfig.from_dict({"train": {"bootstrap": True, "groups": grown}})
    assert grown_cfg.training_identity() == cfg.training_identity()


def test_identity_covers_the_design_not_the_seed_counts():
    base = design().training_identity()
    grown = StudyConfig.from_dict({"train": {"groups": [{**GROUPS[0], "seeds": [0, 1, 2]}, *GROUPS[1:]]}})
    assert grown.training_identity() == base
    other = StudyConfig.from_dict({"train": {"groups": [{**GROUPS[0], "vary": ["dropout"]}, *GROUPS[1:]]}})
    assert other.training_identity() != base
    assert "groups" not in StudyConfig().training_identity()["train"]  # runs without a design keep their hash


# --- a real design: e5-small on Le Monde ------------------------------------------------------------


def _study(corpus: Path, out: Path) -> Path:
    """The conftest's small study's corpus sample and split (same max_docs and split shares) and
    its 60 explained test texts (the same stratified draw), trained in 3 groups on texts cut to
    32 tokens instead of 64 (half the time; every seed still learns)."""
    path = out.parent / f"{out.name}.toml"
    groups = ",\n  ".join(
        f'{{ name = "{g["name"]}", vary = {json.dumps(g["vary"])}, seeds = {g["seeds"]} }}' for g in GROUPS
    )
    path.write_text(f"""preset = "quick"
[corpus]
path = "{corpus}"
max_docs = 400
max_tokens = 32
split = [0.7, 0.05, 0.25]
[train]
epochs = 3
threads = 2
groups = [
  {groups},
]
[explain]
methods = ["lrp"]
texts = 60
randomisation_texts = 0
""")
    return path


@pytest.fixture(scope="module")
def design_run(lemonde_path, tmp_path_factory):
    """Trained with a SIGKILL after the first seed, then resumed; lrp explained and analysed."""
    from stablex.api import analyze, explain

    root = tmp_path_factory.mktemp("design")
    out = root / "run"
    study = _study(lemonde_path, out)
    cmd = [sys.executable, "-m", "stablex.cli", "train", "--config", str(study), "--out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (out / "seeds" / "0" / "metrics.json").exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_with = sorted(p.name for p in (out / "seeds").iterdir() if (p / "metrics.json").exists())
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    explain(out, "lrp")
    analyze(out, "lrp", bootstrap=50)
    return out, killed_with


def test_design_resumes_after_sigkill_and_pins_hold(design_run):
    out, killed_with = design_run
    assert len(killed_with) < 6  # the kill did interrupt the sweep
    metrics = {s: json.loads((out / "seeds" / str(s) / "metrics.json").read_text()) for s in (0, 1, 10, 11, 20, 21)}
    cfg = StudyConfig.from_toml(out / "study.toml")
    for s, m in metrics.items():
        plan, group = plan_seed(cfg.train, s)
        assert m["group"] == group and all(m[k] == getattr(plan, k) for k in SOURCES)
    assert (
        metrics[0]["order_seed"] == metrics[1]["order_seed"]
        and metrics[0]["dropout_seed"] == metrics[1]["dropout_seed"]
    )
    assert (
        metrics[10]["init_seed"] == metrics[11]["init_seed"]
        and metrics[10]["dropout_seed"] == metrics[11]["dropout_seed"]
    )
    assert metrics[0]["init_seed"] != metrics[1]["init_seed"] and metrics[10]["order_seed"] != metrics[11]["order_seed"]
    for s in (0, 1, 10, 11, 20, 21):
        assert metrics[s]["accuracy"]["test"] > 0.6  # every seed learned something (majority rate 0.5)


def _flipped(out: Path, seeds: list[int]) -> dict[str, np.ndarray]:
    """Per text [S, L] relevance toward the second class, read directly from the seed files."""
    classes = json.loads((out / "manifest.json").read_text())["classes"]
    per_seed = []
    for s in seeds:
        rows = pq.read_table(out / "explanations" / "lrp" / f"seed-{s}.parquet").to_pylist()
        by_doc: dict[str, list] = {}
        for r in sorted(rows, key=lambda r: (r["doc_id"], r["word_index"])):
            by_doc.setdefault(r["doc_id"], []).append(r["relevance"] if r["target"] == classes[1] else -r["relevance"])
        per_seed.append({d: np.asarray(v, float) for d, v in by_doc.items()})
    return {d: np.stack([p[d] for p in per_seed]) for d in per_seed[0]}


def test_variance_shares_match_a_direct_computation(design_run):
    out, _ = design_run
    summary = json.loads((out / "analysis" / "lrp" / "summary.json").read_text())
    seeds = summary["seeds"]
    assert seeds == [0, 1, 10, 11, 20, 21]
    src = summary["sources"]
    assert src["available"]
    X = _flipped(out, seeds)
    idx = {s: i for i, s in enumerate(seeds)}
    recorded = {s: json.loads((out / "seeds" / str(s) / "metrics.json").read_text()) for s in seeds}

    def pairs_differing_in(*names):  # the definition: seed pairs whose recorded seeds differ in exactly these
        active = ("init_seed", "order_seed", "dropout_seed")
        return [
            (a, b)
            for i, a in enumerate(seeds)
            for b in seeds[i + 1 :]
            if {k for k in active if recorded[a][k] != recorded[b][k]} == set(names)
        ]

    init_pairs, order_pairs = pairs_differing_in("init_seed"), pairs_differing_in("order_seed")
    assert init_pairs == [(0, 1)]  # seed 0 is the pinned reference itself (pin_seed = 0)
    assert order_pairs == [(0, 10), (0, 11), (10, 11)]
    assert src["pairs"]["init_seed"] == 1 and src["pairs"]["order_seed"] == 3
    direct_init = {
        d: np.mean([(x[idx[a]] - x[idx[b]]) ** 2 / 2 for a, b in init_pairs], 0).mean() for d, x in X.items()
    }
    direct_order = {
        d: np.mean([(x[idx[a]] - x[idx[b]]) ** 2 / 2 for a, b in order_pairs], 0).mean() for d, x in X.items()
    }
    per_text = {r["doc_id"]: r for r in pq.read_table(out / "analysis" / "lrp" / "per_text.parquet").to_pylist()}
    for d in X:
        assert per_text[d]["var_init_seed"] == pytest.approx(direct_init[d], rel=1e-4, abs=1e-9)
        assert per_text[d]["var_order_seed"] == pytest.approx(direct_order[d], rel=1e-4, abs=1e-9)
    # corpus share = sum over texts of the set's variance / sum of the reference's
    ref = src["reference"]
    direct_ref = {d: per_text[d][f"var_{ref}"] for d in X}
    share = sum(direct_init.values()) / sum(direct_ref.values())
    assert src["shares"]["init_seed"]["share"] == pytest.approx(share, rel=1e-4)
    lo, hi = src["shares"]["init_seed"]["share_ci"]
    assert lo <= share <= hi
    # one pin (pin_seed): the points are kept, the model-level intervals withheld, no check drawn
    vr = src["variance_ratios"]
    assert src["reference_pins"] == 1 and vr["pins"] == 1 and "1 reference pin(s)" in vr["withheld"]
    assert vr["ratios"]["init_seed"]["ratio"] == pytest.approx(share, rel=1e-4)
    assert all(r["ratio_ci_models"] is None for r in vr["ratios"].values())
    assert vr["total_variance_check"]["consistent"] is False
    from stablex.report.sensitivity import _sources

    page = _sources("lrp", src)
    assert "Intervals withheld: 1 reference pin(s)" in page and "does not support ranking the sources" in page
    assert page.count("(no model-level interval)") == len(vr["ratios"])


def test_accuracy_shares_match_a_direct_computation(design_run):
    out, _ = design_run
    src = json.loads((out / "analysis" / "lrp" / "summary.json").read_text())["sources"]
    acc = {
        s: json.loads((out / "seeds" / str(s) / "metrics.json").read_text())["accuracy"]["test"]
        for s in (0, 1, 10, 11, 20, 21)
    }
    a = src["accuracy"]
    assert a["shares"]["init_seed"]["variance"] == pytest.approx((acc[0] - acc[1]) ** 2 / 2, abs=1e-12)
    order = np.mean([(acc[a] - acc[b]) ** 2 / 2 for a, b in ((0, 10), (0, 11), (10, 11))])
    assert a["shares"]["order_seed"]["variance"] == pytest.approx(order, abs=1e-12)
    assert a["n_texts"] == 100


# --- stablex compare --------------------------------------------------------------------------------


def test_compare_a_run_with_itself_gives_zero_and_p_one(design_run):
    from stablex.stats.compare import compare

    out, _ = design_run
    res = compare(out, out, "lrp", n_boot=50, n_permutations=199)
    assert res.paired and res.n_texts == {"a": 60, "b": 60}  # every explained text
    for name, m in res.metrics.items():
        assert m["difference"] == 0.0, name
        assert m["p_value"] == 1.0, name


def _direct_median_spearman(out: Path, seeds: list[int], docs: list[str]) -> float:
    from scipy.stats import spearmanr

    X = _flipped(out, seeds)
    per_text = []
    for d in docs:
        x = X[d]
        rhos = [spearmanr(x[a], x[b]).statistic for a in range(len(x)) for b in range(a + 1, len(x))]
        per_text.append(np.mean([0.0 if np.isnan(r) else r for r in rhos]))
    return float(np.median(per_text))


def _direct_median_half_r(out: Path, seeds: list[int], docs: list[str]) -> float:
    """The half-split r over every pairing of distinct seeds: the correlation of the stacked
    ordered pairs (x_a, x_b), a != b (both columns share one mean and variance)."""
    X = _flipped(out, seeds)
    S = len(seeds)
    rs = []
    for d in docs:
        x = np.asarray(X[d], float)
        a = np.concatenate([x[i] for i in range(S) for j in range(S) if i != j])
        b = np.concatenate([x[j] for i in range(S) for j in range(S) if i != j])
        rs.append(np.corrcoef(a, b)[0, 1])
    return float(np.median(rs))


def test_compare_two_runs_matches_a_direct_computation(design_run, study_run, tmp_path):
    from stablex.api import compare

    out, _ = design_run
    other = study_run.run  # the conftest's small study: same sample and split, 64 tokens instead of 32
    res, path = compare(out, other, "lrp", n_boot=100, n_permutations=499, out=tmp_path / "c.json")
    docs = sorted(set(_flipped(out, [0])) & set(_flipped(other, [0])))  # texts both runs explained
    assert res.paired and len(docs) == 60 and res.n_texts == {"a": len(docs), "b": len(docs)}  # the same 60
    sa = _direct_median_spearman(out, [0, 1, 10, 11, 20, 21], docs)
    sb = _direct_median_spearman(other, [0, 1], docs)
    sp = res.metrics["spearman"]
    assert sp["a"] == pytest.approx(sa, abs=1e-5) and sp["b"] == pytest.approx(sb, abs=1e-5)
    assert sp["difference"] == pytest.approx(sa - sb, abs=1e-5)
    lo, hi = sp["ci_uncalibrated"]
    assert lo <= sp["difference"] <= hi and sp["ci"] is None  # B has 2 seeds: the interval is not printed
    assert any("interval not shown" in n for n in res.notes)
    if sp["p_value"] is not None:  # models pooled on the texts whose words match in both runs
        assert res.smallest_p == pytest.approx(1 / 28) and 1 / 28 <= sp["p_value"] <= 1  # C(8, 2) relabellings
    hr = res.metrics["half_r"]
    assert hr["a"] == pytest.approx(_direct_median_half_r(out, [0, 1, 10, 11, 20, 21], docs), abs=1e-5)
    assert json.loads(path.read_text())["metrics"]["spearman"]["difference"] == pytest.approx(sp["difference"])


def test_compare_two_halves_of_one_run_cannot_conclude_with_three_seeds_each(design_run):
    from stablex.stats.compare import compare

    out, _ = design_run
    res = compare(out, out, "lrp", n_boot=50, seeds_a=[0, 1, 10], seeds_b=[11, 20, 21], plan=0.05)
    assert res.paired and res.seeds == {"a": [0, 1, 10], "b": [11, 20, 21]}
    assert res.smallest_p == pytest.approx(0.1) and not res.conclusive and res.seeds_needed == 4
    assert any("not enough seeds per run to conclude (needs >= 4" in n for n in res.notes)
    for m in res.metrics.values():  # 20 relabellings of 6 models: p is a multiple of 1/20, nothing concluded
        assert m["conclusion"] == "cannot conclude (too few seeds)"
        assert m["p_value"] >= 0.1 and (m["p_value"] * 20) == pytest.approx(round(m["p_value"] * 20))
    assert res.plan["seeds_per_run"] is None or res.plan["seeds_per_run"] >= 4
    with pytest.raises(StablexError, match="seed sets overlap"):
        compare(out, out, "lrp", seeds_a=[0, 1], seeds_b=[1, 10])
    with pytest.raises(StablexError, match=r"no explanations for seed\(s\) \[99\]"):
        compare(out, out, "lrp", seeds_a=[0, 99], seeds_b=[1, 10])


def test_compare_cli_prints_the_table_and_refuses_a_non_run(design_run, tmp_path):
    out, _ = design_run
    wide = dict(os.environ, COLUMNS="200")  # rich wraps table cells to the terminal width
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "stablex.cli",
            "compare",
            str(out),
            str(out),
            "--method",
            "lrp",
            "--bootstrap",
            "20",
            "--permutations",
            "99",
        ],
        capture_output=True,
        text=True,
        env=wide,
    )
    assert r.returncode == 0, r.stderr
    assert "median Spearman rho" in r.stdout and (out / "compare" / "run-lrp.json").exists()
    r = subprocess.run(
        [sys.executable, "-m", "stablex.cli", "compare", str(out), str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a stablex run directory" in r.stderr


# --- by class and part of speech -----------------------------------------------------------------------

REAL_TITLES = {  # Le Monde titles (ids in the corpus), with the alignments they must give
    "https://www.lemonde.fr/international/article/2022/02/01/ukraine-volodymyr-zelensky-compte-ses-allies-dans-la-crise_6111827_3210.html": {  # noqa: E501 (a document id)
        "l’": "DET",
        "Occident": "PROPN",
        "«": "PUNCT",
        "»": "PUNCT",
        "Washington": "PROPN",
    },
    "https://www.lemonde.fr/idees/article/2021/12/17/pres-de-cent-producteurs-et-realisateurs-s-insurgent-les-documentaires-informent-et-emancipent-comment-le-csa-a-t-il-pu-les-sacrifier_6106540_3232.html": {  # noqa: E501 (a document id)
        "s’": "PRON",
        "«": "PUNCT",
        "a-t-il": None,
        "?": "PUNCT",
    },
    "https://www.lemonde.fr/societe/article/2022/01/04/ecole-et-covid-19-jusqu-a-quand-tiendra-t-on-comme-ca_6108093_3224.html": {  # noqa: E501 (a document id)
        "Jusqu’": "ADP",
        "tiendra-t-on": None,
        "l’": "DET",
        "incertitude": "NOUN",
    },
}


def test_pos_alignment_on_real_titles(lemonde_path):
    from stablex.config import CorpusConfig
    from stablex.data.corpus import load_corpus
    from stablex.explain.words import word_spans
    from stablex.features.extract import load_nlp, prepare_text
    from stablex.features.pos import align_pos

    corpus = load_corpus(CorpusConfig(path=str(lemonde_path), text="title"))
    where = {d: i for i, d in enumerate(corpus.doc_ids)}
    nlp = load_nlp()
    for doc_id, expected in REAL_TITLES.items():
        text = corpus.texts[where[doc_id]]
        spans = word_spans(text)
        tags = dict(zip((text[a:b] for a, b in spans), align_pos(nlp(prepare_text(text)), spans[:, 0], spans[:, 1])))
        for word, tag in expected.items():
            assert tags[word] == tag, (word, tags[word], text)


def test_groups_by_class_and_pos_on_the_real_run(design_run):
    from stablex.features.pos import sensitivity_groups
    from stablex.stats.groups import dispersion

    out, _ = design_run
    g = sensitivity_groups(out, "lrp", n_boot=50)
    assert (out / "analysis" / "lrp" / "groups.json").exists()
    al = g["pos_alignment"]
    assert al["aligned"] + al["not_aligned"] == g["n_words"] and al["aligned"] > 0.95 * g["n_words"]
    gold = g["dispersion"]["gold_class"]
    assert set(gold["groups"]) == {"news", "opinion"}
    assert sum(v["n_texts"] for v in gold["groups"].values()) == g["n_texts"] == 60  # every explained text
    pos = g["dispersion"]["pos"]
    assert pos["left_out"] == al["not_aligned"] and {"NOUN", "PUNCT", "DET"} <= set(pos["groups"])
    t = pos["test"]
    assert 0 <= t["p_value"] <= 1 and t["epsilon_squared"] == pytest.approx(t["H"] / (t["n_words"] - 1))
    # the tests with the text as unit, and the magnitude-matched POS comparison beside the raw one
    assert gold["text_test"]["unit"] == "text" and gold["text_test"]["n_texts"] == 60
    assert 1 / 51 <= gold["text_test"]["p_value"] <= 1 and gold["text_test"]["permutations"] == 50
    matched = g["dispersion_matched"]["pos"]
    assert pos["text_test"]["n_texts"] == 60 and matched["text_test"]["n_words"] == pos["text_test"]["n_words"]
    assert {"NOUN", "DET"} <= set(pos["effects"]) and {"NOUN", "DET"} <= set(matched["effects"])
    # the definition, directly: SD over seeds / RMS of the text's consensus, median over the PUNCT words
    rows = sorted(
        pq.read_table(out / "analysis" / "lrp" / "per_word.parquet").to_pylist(),
        key=lambda r: (r["doc_id"], r["word_index"]),
    )
    docs = sorted({r["doc_id"] for r in rows})
    text = np.array([docs.index(r["doc_id"]) for r in rows])
    sd, mean = np.array([r["sd"] for r in rows]), np.array([r["mean"] for r in rows])
    rms = {d: np.sqrt(np.mean([r["mean"] ** 2 for r in rows if r["doc_id"] == d])) for d in docs}
    direct = np.array([r["sd"] / rms[r["doc_id"]] for r in rows])
    np.testing.assert_allclose(dispersion(sd, mean, text, len(docs)), direct, rtol=1e-9)
    for v in gold["groups"].values():
        assert v["median_ci"][0] <= v["median"] <= v["median_ci"][1]


def test_the_report_says_how_a_quick_study_departs_from_the_papers_protocol():
    from stablex.report.protocol import protocol_differences

    repo = Path(__file__).resolve().parents[1]
    quick = {
        d["key"] for d in protocol_differences(StudyConfig.from_toml(repo / "studies/lemonde-quick.toml").to_toml())
    }
    assert {"freeze_layers", "max_tokens", "batch_size", "seeds"} <= quick
    full = {
        d["key"]
        for d in protocol_differences(StudyConfig.from_toml(repo / "studies/compare/lemonde-full.toml").to_toml())
    }
    assert "freeze_layers" not in full and "max_tokens" in full
    assert protocol_differences(StudyConfig.from_toml(repo / "studies/paper.toml").to_toml()) == []


def test_compare_pairs_texts_only_within_one_task(tmp_path):
    from stablex.stats.compare import _same_task

    corpus = {"sha256": "ab" * 32, "text": "title+summary", "label": "label"}
    runs = {
        "a": (corpus, ["news", "opinion"]),
        "b": (corpus, ["news", "opinion"]),
        "section": ({**corpus, "label": "section"}, ["economie", "international"]),
        "classes": (corpus, ["news", "other"]),
        "body": ({**corpus, "text": "body"}, ["news", "opinion"]),
    }
    for name, (c, classes) in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"corpus": c, "classes": classes}))
    assert _same_task(tmp_path / "a", tmp_path / "b")
    for other in ("section", "classes", "body"):
        assert not _same_task(tmp_path / "a", tmp_path / other), other


def test_the_protocol_note_quotes_only_shipped_comparison_data(tmp_path):
    """No measured number in src/: the effect of a departure comes from a shipped compare result
    (studies/compare/measured/<key>.json) or the page says it was not measured."""
    from stablex.report import protocol, sensitivity

    assert not hasattr(sensitivity, "PROTOCOL_MEASUREMENTS")
    assert (
        protocol._measured_effect(None, "freeze_layers", tmp_path) == " (effect on stability not measured by stablex)"
    )
    (tmp_path / "freeze_layers.json").write_text(
        json.dumps(
            {
                "command": "stablex compare runs/frozen runs/full --method lrp",
                "n_texts": {"a": 300, "b": 300},
                "seeds": {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]},
                "smallest_p": 0.0286,
                "notes": [],
                "metrics": {
                    "half_r": {
                        "label": "median half-split r",
                        "difference": 0.0123,
                        "ci": [-0.01, 0.03],
                        "p_value": 0.31,
                        "conclusion": "no difference shown",
                    },
                    "snr": {
                        "label": "median SNR",
                        "difference": 2.26,
                        "ci": [-0.42, 8.72],
                        "p_value": 0.0286,
                        "conclusion": "differs",
                    },
                },
            }
        )
    )
    text = re.sub("<[^>]+>", "", protocol._measured_effect(None, "freeze_layers", tmp_path))
    assert "median half-split r +0.012 [-0.010, +0.030], p = 0.31: no difference shown;" in text
    # the test rejects, the interval includes 0: the page shows the disagreement
    assert "median SNR +2.260 [-0.420, +8.720], p = 0.0286: differs (its interval includes 0)" in text
    assert "4 / 4 seeds" in text and "stablex compare runs/frozen runs/full" in text


class _RemoteExecutor:
    """The contract of an executor that runs seeds elsewhere (RayExecutor's path), without Ray."""

    name, in_process, threads_per_seed = "remote", False, 1

    def __init__(self):
        self.seeds: list[int] = []

    def map_seeds(self, fn, seeds, on_done):
        self.seeds += list(seeds)


def test_a_seed_moved_to_another_group_is_refused_on_the_local_and_the_remote_path(design_run, tmp_path):
    """Seed 1 moved from group "init" to "order": the design's identity (names, varied sources) is
    unchanged, but seed 1's recorded per-source seeds are not what "order" gives it. Both executors'
    paths refuse it with the same error instead of skipping it as trained."""
    import shutil

    from stablex.train.executors import train_distributed

    out = tmp_path / "run"
    shutil.copytree(design_run[0], out, ignore=shutil.ignore_patterns("explanations", "analysis"))
    stored = StudyConfig.from_toml(out / "study.toml")

    def design(init: list[int], order: list[int]) -> StudyConfig:
        groups = [
            {"name": "init", "vary": ["init"], "seeds": init},
            {"name": "order", "vary": ["order"], "seeds": order},
            {"name": "all", "vary": ["all"], "seeds": [20, 21]},
        ]
        return stored.replace("train", groups=groups)

    cfg = design([0], [1, 10, 11])
    remote = _RemoteExecutor()
    for executor in (None, remote):
        with pytest.raises(
            StablexError, match="seed 1 was trained with other per-source seeds.*moved to another group"
        ):
            train_distributed(cfg, out, executor, show_progress=False)
    assert remote.seeds == []  # refused before any seed was handed out
    cfg = design([0, 1], [10, 11])  # seed 1 back where it was trained: resumes, nothing to train
    assert sorted(train_distributed(cfg, out, remote, show_progress=False).skipped) == [0, 1, 10, 11, 20, 21]
