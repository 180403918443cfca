"""The verdict weighs every method's stability by its faithfulness (constructed summaries, no model)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stablex.explain.faithfulness import compare, mean_ci
from stablex.records import FaithfulnessRecord
from stablex.report.data import MethodAnalysis, ReportData
from stablex.report.verdict import (
    faith_status,
    method_rows,
    most_faithful,
    protocol_sentence,
    render,
    stability_reading,
)
from stablex.stats.method_diff import lookup, paired_median_difference


def analysis(name: str, rho: float, ci: tuple[float, float]) -> MethodAnalysis:
    metric = {"median": rho, "median_ci": list(ci), "n_texts": 200}
    return MethodAnalysis(name, {"n_seeds": 5, "metrics": {"spearman": metric, "fa_10": metric, "half_r": metric}}, {})


def scores(comp: np.ndarray, suff: np.ndarray) -> dict:
    return {
        "comprehensiveness_aopc": float(comp.mean()),
        "sufficiency_aopc": float(suff.mean()),
        "per_text": {"comprehensiveness": comp.tolist(), "sufficiency": suff.tolist()},
    }


def faith(rng: np.random.Generator, shifts: dict[str, float | tuple[float, float]], n: int = 100) -> dict:
    """Per-text AOPCs: the random ranking's, and each method's = random + shift + noise (a shift
    pair: comprehensiveness gain, sufficiency gain)."""
    base_c, base_s = rng.normal(0.05, 0.05, n), rng.normal(0.26, 0.05, n)
    methods = {"random": scores(base_c, base_s)}
    for m, shift in shifts.items():
        sc, ss = shift if isinstance(shift, tuple) else (shift, shift)
        e = rng.normal(0, 0.02, n // 2)
        noise = np.concatenate([e, -e])  # antithetic: the difference from random is exactly `shift` on average
        methods[m] = scores(base_c + sc + noise, base_s - ss + noise[::-1])
    compare(methods, 1000, 0)
    return {"seeds": [0], "n_texts": n, "methods": methods}


def differences(pairs: dict[tuple[str, str], tuple[float, tuple[float, float]]]) -> dict:
    """A stability_differences.json record: (a, b) -> (median rho a - b, its interval)."""
    return {
        "pairs": {
            f"{a}|{b}": {"a": a, "b": b, "difference": d, "ci": list(ci), "n_texts": 200, "n_seeds": 5}
            for (a, b), (d, ci) in pairs.items()
        }
    }


def report(tmp_path, analyses: dict, faithfulness: dict | None) -> ReportData:
    d = ReportData(tmp_path, {}, "", ["news", "opinion"])
    d.analyses = analyses
    d.explained = {"lrp": {"rule": {"name": "AttnLRP (Achtibat et al. 2024)", "softmax_rule": "attnlrp"}}}
    d.faithfulness = None if faithfulness is None else FaithfulnessRecord.from_dict(faithfulness, baselines=["random"])
    return d


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_a_method_at_the_random_ranking_draws_no_stability_conclusion(tmp_path):
    rng = np.random.default_rng(1)
    d = report(
        tmp_path,
        {"lrp": analysis("lrp", 0.875, (0.859, 0.910)), "gxi": analysis("gxi", 0.209, (0.142, 0.384))},
        faith(rng, {"lrp": 0.21, "gxi": 0.0}),
    )
    rows = {r.name: r for r in method_rows(d)}
    assert rows["lrp"].status == "above" and rows["gxi"].status == "floor"
    html = render(d)
    page = text(html)
    gxi = page[page.index("gxi's faithfulness") :]
    gxi = gxi[: gxi.index(".", gxi.index("no conclusion")) + 1]
    assert "cannot be told from a random ranking" in gxi and "no conclusion about stability rests on it" in gxi
    assert "is not shown to be about the model" in gxi and "noise" not in gxi  # no cause the run did not measure
    assert "stable" not in gxi.replace("stability", "")  # no stability reading for gxi
    assert (
        "lrp is more faithful than a random ranking by both criteria" in page and "largely stable across seeds" in page
    )
    assert "rests on lrp, the only method shown to follow the model by both criteria" in page
    assert "AttnLRP (Achtibat et al. 2024)" in page  # the LRP rule is named from the summary
    assert 'id="verdict-figure"' in html and "random ranking" in html  # the reference band is drawn
    assert page.count("indistinguishable from random") == 1  # gxi's row of the table
    for name in ("lrp", "gxi", "random ranking"):
        assert f"<td>{name}</td>" in html


def test_a_method_faithful_by_one_criterion_is_named_with_the_one_it_fails(tmp_path):
    """Comprehensiveness above the floor, sufficiency not: 'partial', the page names sufficiency,
    and the conclusion rests on the method faithful by both."""
    d = report(
        tmp_path,
        {"lrp": analysis("lrp", 0.875, (0.86, 0.91)), "chefer": analysis("chefer", 0.6, (0.55, 0.7))},
        faith(np.random.default_rng(6), {"lrp": 0.2, "chefer": (0.15, 0.0)}),
    )
    rows = {r.name: r for r in method_rows(d)}
    assert rows["chefer"].status == "partial" and rows["chefer"].fails == ["sufficiency"]
    assert [r.name for r in method_rows(d)] == ["lrp", "chefer"]
    page = text(render(d))
    assert "chefer beats a random ranking by comprehensiveness but not by sufficiency" in page
    assert "as it fails sufficiency no conclusion about stability rests on it" in page
    assert "fails sufficiency" in page  # its row of the table
    assert "rests on lrp, the only method shown to follow the model by both criteria" in page
    assert (
        faith_status(
            {"vs": {"random": {"comprehensiveness_gain_ci": [0.01, 0.03], "sufficiency_gain_ci": [-0.05, -0.01]}}},
            "random",
        )
        == "partial"
    )
    assert (
        faith_status(
            {"vs": {"random": {"comprehensiveness_gain_ci": [-0.01, 0.03], "sufficiency_gain_ci": [-0.05, -0.01]}}},
            "random",
        )
        == "below"
    )


def test_faithful_methods_that_differ_in_stability_by_the_paired_difference(tmp_path):
    """lrp beats chefer on faithfulness (paired) and the paired difference of median rho excludes 0:
    the page says lrp is more stable, with that interval, and that the evidence favours lrp."""
    d = report(
        tmp_path,
        {"lrp": analysis("lrp", 0.875, (0.86, 0.91)), "chefer": analysis("chefer", 0.767, (0.70, 0.85))},
        faith(np.random.default_rng(2), {"lrp": 0.21, "chefer": 0.08}),
    )
    d.stability_differences = differences({("chefer", "lrp"): (-0.108, (-0.15, -0.06))})
    rows = method_rows(d)
    assert most_faithful(rows).name == "lrp" and [r.name for r in rows] == ["lrp", "chefer"]
    page = text(render(d))
    assert (
        "lrp's explanations are more stable than chefer's (median ρ of lrp − chefer = 0.108 [0.060, 0.150], "
        "paired over 200 texts and 5 seeds)"
    ) in page
    assert "the evidence favours lrp, more faithful than chefer" in page
    assert "The most faithful method is lrp" in page and "lrp, the most faithful method" in page
    # chefer's interval [0.70, 0.85] leaves two readings open, said in words
    assert (
        "either largely stable or sharing a core but differing in detail: the run cannot tell which, as the "
        "interval of its median ρ (0.70 to 0.85) crosses ρ = 0.8"
    ) in page
    assert "agree" not in page and "overlap" not in page


def test_ties_are_called_ties(tmp_path):
    """Equally faithful (paired interval of the difference includes 0) and a stability difference
    whose interval includes 0: a tie on both, no 'most faithful', no method put first by its point."""
    an = {"lrp": analysis("lrp", 0.875, (0.86, 0.91)), "chefer": analysis("chefer", 0.84, (0.80, 0.88))}
    d = report(tmp_path, an, faith(np.random.default_rng(3), {"lrp": 0.1, "chefer": 0.1}))
    d.stability_differences = differences({("chefer", "lrp"): (-0.035, (-0.08, 0.01))})
    rows = method_rows(d)
    assert most_faithful(rows) is None and [r.name for r in rows] == ["chefer", "lrp"]  # by name, not by point
    page = text(render(d))
    assert "No faithful method beats every other by paired evidence: they are tied on faithfulness" in page
    assert "chefer and lrp are tied in stability (median ρ of chefer − lrp = -0.035 [-0.080, 0.010]" in page
    assert "read first among the faithful methods, tied on faithfulness" in page
    assert "chefer and lrp are tied on faithfulness (comprehensiveness difference" in page  # cites the paired interval
    assert "most faithful method is" not in page and "more stable" not in page
    d.stability_differences = None  # no paired record: no claim either way
    assert "have no paired stability difference" in text(render(d))


def test_no_faithful_method_and_no_faithfulness(tmp_path):
    d = report(tmp_path, {"gxi": analysis("gxi", 0.2, (0.14, 0.38))}, faith(np.random.default_rng(4), {"gxi": 0.0}))
    assert "supports no conclusion about how stable" in text(render(d))
    d.faithfulness = None
    page = text(render(d))
    assert "gxi was not scored for faithfulness" in page and "Not available yet" in page


def test_accuracy_card_and_protocol_sentence(tmp_path):
    d = report(tmp_path, {"lrp": analysis("lrp", 0.875, (0.86, 0.91))}, None)
    d.accuracy = {"by_seed": {"0": 0.906, "1": 0.922, "2": 0.92}, "n_test": 1000}
    page = text(render(d))
    assert "0.916 (range 0.906–0.922)" in page and "[0.906, 0.922]" not in page  # brackets are for 95 % intervals
    assert "Trained 3 times on the same data, changing only the random seed: test accuracy 0.916" in page
    assert protocol_sentence(3, True).startswith("Trained 3 times on bootstrap resamples of the same training texts")
    assert "only the random seed" not in protocol_sentence(3, True)
    assert protocol_sentence(3, False, imported=True).startswith("3 models imported from elsewhere")


def test_stability_reading_comes_from_the_interval():
    assert stability_reading({"median": 0.9, "median_ci": [0.85, 0.95]}) == "largely stable across seeds"
    assert stability_reading({"median": 0.4, "median_ci": [-0.2, 0.6]}) == (
        "either sharing a core but differing in detail or widely spread: the run cannot tell which, as the interval "
        "of its median ρ (-0.20 to 0.60) crosses ρ = 0.5"
    )
    assert stability_reading({"median": 0.7, "median_ci": [0.3, 0.9]}).endswith("crosses ρ = 0.8 and 0.5")
    assert "without an interval" in stability_reading({"median": 0.9})
    assert faith_status({"vs": {"random": {"comprehensiveness_gain_ci": [-0.01, 0.02]}}}, "random") == "floor"
    assert faith_status({"vs": {"random": {"comprehensiveness_gain_ci": [-0.05, -0.01]}}}, "random") == "below"
    assert faith_status(None, "random") == "unscored"


def test_paired_median_difference_is_the_evidence_not_overlap():
    """Two methods whose per-text rho move together: their marginal intervals overlap, but the
    paired interval of the difference excludes 0; the interval covers a known difference near 95 %."""
    rng = np.random.default_rng(0)
    T, B = 150, 400
    a = rng.normal(0.6, 0.15, T)
    b = a - 0.03 + rng.normal(0, 0.01, T)
    reps_a = a[:, None] + rng.normal(0, 0.02, (T, B))
    reps_b = reps_a - (a - b)[:, None]  # the same seed draw moves both methods' rho alike
    diff, ci, n = paired_median_difference(a, reps_a, b, reps_b, B, np.random.default_rng(1))
    assert n == T and ci[0] > 0 and diff == pytest.approx(np.median(a) - np.median(b))
    marg_a = np.quantile([np.median(a[rng.integers(0, T, T)]) for _ in range(300)], [0.025, 0.975])
    marg_b = np.quantile([np.median(b[rng.integers(0, T, T)]) for _ in range(300)], [0.025, 0.975])
    assert marg_a[0] < marg_b[1]  # the marginal intervals overlap
    rec = {"pairs": {"a|b": {"a": "a", "b": "b", "difference": diff, "ci": ci, "n_texts": n, "n_seeds": 5}}}
    flipped = lookup(rec, "b", "a")
    assert flipped.difference == pytest.approx(-diff) and flipped.ci == pytest.approx([-ci[1], -ci[0]])
    assert lookup(rec, "a", "b").verdict() == "higher" and flipped.verdict() == "lower"
    hits = 0
    for _ in range(200):  # truth: median(N(0.6, .15)) - median(N(0.57, sqrt(.15^2 + .1^2))) = 0.03
        a = rng.normal(0.6, 0.15, 100)
        b = a - 0.03 + rng.normal(0, 0.1, 100)
        _, (lo, hi), _ = paired_median_difference(
            a, np.repeat(a[:, None], 200, 1), b, np.repeat(b[:, None], 200, 1), 200, rng
        )
        hits += lo <= 0.03 <= hi
    assert 0.88 <= hits / 200 <= 0.99, hits / 200


def test_faithfulness_intervals_are_scipy_bootstrap_intervals_of_the_mean():
    from scipy.stats import bootstrap

    x = np.random.default_rng(5).normal(0.1, 0.05, 60)
    ci = bootstrap((x,), np.mean, n_resamples=999, random_state=np.random.default_rng(0)).confidence_interval
    assert mean_ci(x, 999, 0) == pytest.approx([ci.low, ci.high])
    assert mean_ci(np.full(5, 0.3), 999, 0) == [0.3, 0.3] and mean_ci(x[:1], 999, 0) == [None, None]
