"""The verdict weighs every method's stability by its faithfulness (constructed summaries, no model)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stablex.explain.faithfulness import compare, mean_ci
from stablex.report.data import MethodAnalysis, ReportData
from stablex.report.verdict import faith_status, method_rows, render, stability_reading


def analysis(name: str, rho: float, ci: tuple[float, float]) -> MethodAnalysis:
    metric = {"median": rho, "median_ci": list(ci), "n_texts": 200}
    return MethodAnalysis(name, {"n_seeds": 5, "metrics": {"spearman": metric, "fa_10": metric, "half_r": metric}}, {})


def scores(comp: np.ndarray, suff: np.ndarray) -> dict:
    return {"comprehensiveness_aopc": float(comp.mean()), "sufficiency_aopc": float(suff.mean()),
            "per_text": {"comprehensiveness": comp.tolist(), "sufficiency": suff.tolist()}}


def faith(rng: np.random.Generator, shifts: dict[str, float], n: int = 100) -> dict:
    """Per-text AOPCs: the random ranking's, and each method's = random + shift + noise."""
    base_c, base_s = rng.normal(0.05, 0.05, n), rng.normal(0.26, 0.05, n)
    methods = {"random": scores(base_c, base_s)}
    for m, shift in shifts.items():
        e = rng.normal(0, 0.02, n // 2)
        noise = np.concatenate([e, -e])  # antithetic: the difference from random is exactly `shift` on average
        methods[m] = scores(base_c + shift + noise, base_s - shift + noise[::-1])
    compare(methods, 1000, 0)
    return {"seed": 0, "n_texts": n, "methods": methods}


def report(tmp_path, analyses: dict, faithfulness: dict | None) -> ReportData:
    d = ReportData(tmp_path, {}, "", ["news", "opinion"])
    d.analyses = analyses
    d.explained = {"lrp": {"rule": {"name": "AttnLRP (Achtibat et al. 2024)", "softmax_rule": "attnlrp"}}}
    d.faithfulness = faithfulness
    return d


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_a_method_at_the_random_ranking_draws_no_stability_conclusion(tmp_path):
    rng = np.random.default_rng(1)
    d = report(tmp_path, {"lrp": analysis("lrp", 0.875, (0.859, 0.910)), "gxi": analysis("gxi", 0.209, (0.142, 0.384))},
               faith(rng, {"lrp": 0.21, "gxi": 0.0}))
    rows = {r.name: r for r in method_rows(d)}
    assert rows["lrp"].status == "above" and rows["gxi"].status == "random"
    html = render(d)
    page = text(html)
    gxi = page[page.index("gxi's faithfulness"):]
    gxi = gxi[: gxi.index(".", gxi.index("no conclusion")) + 1]
    assert "cannot be told from a random ranking" in gxi and "no conclusion about stability rests on it" in gxi
    assert "stable" not in gxi.replace("stability", "")  # no stability reading for gxi
    assert "lrp is more faithful than a random ranking" in page and "largely stable across seeds" in page
    assert "rests on lrp, the only method shown to follow the model" in page
    assert "AttnLRP (Achtibat et al. 2024)" in page  # the LRP rule is named from the summary
    assert 'id="verdict-figure"' in html and "random ranking" in html  # the reference band is drawn
    assert page.count("indistinguishable from random") == 1  # gxi's row of the table
    # the table holds both methods with their faithfulness and the random ranking's row
    for name in ("lrp", "gxi", "random ranking"):
        assert f"<td>{name}</td>" in html


def test_disagreeing_faithful_methods_name_the_one_the_evidence_favours(tmp_path):
    rng = np.random.default_rng(2)
    d = report(tmp_path, {"lrp": analysis("lrp", 0.875, (0.86, 0.91)), "chefer": analysis("chefer", 0.767, (0.70, 0.85))},
               faith(rng, {"lrp": 0.21, "chefer": 0.08}))
    page = text(render(d))
    assert "The faithful methods disagree on stability" in page
    assert "the evidence favours lrp, more faithful than chefer" in page
    assert "between readings (its interval spans ρ 0.5–0.8 and 0.8–1)" in page  # chefer: [0.70, 0.85]
    # equally faithful and disagreeing: the evidence favours neither
    d2 = report(tmp_path, d.analyses, faith(np.random.default_rng(3), {"lrp": 0.1, "chefer": 0.1}))
    assert "so the evidence favours neither" in text(render(d2))


def test_no_faithful_method_and_no_faithfulness(tmp_path):
    d = report(tmp_path, {"gxi": analysis("gxi", 0.2, (0.14, 0.38))}, faith(np.random.default_rng(4), {"gxi": 0.0}))
    assert "supports no conclusion about how stable" in text(render(d))
    d.faithfulness = None
    page = text(render(d))
    assert "gxi was not scored for faithfulness" in page and "Not available yet" in page


def test_stability_reading_comes_from_the_interval():
    assert stability_reading({"median": 0.9, "median_ci": [0.85, 0.95]}) == "largely stable across seeds"
    assert stability_reading({"median": 0.82, "median_ci": [0.7, 0.9]}).startswith("between readings")
    assert "without an interval" in stability_reading({"median": 0.9})
    assert faith_status({"vs": {"random": {"comprehensiveness_gain_ci": [-0.01, 0.02]}}}) == "random"
    assert faith_status({"vs": {"random": {"comprehensiveness_gain_ci": [-0.05, -0.01]}}}) == "below"
    assert faith_status(None) == "unscored"


def test_faithfulness_intervals_are_scipy_bootstrap_intervals_of_the_mean():
    from scipy.stats import bootstrap

    x = np.random.default_rng(5).normal(0.1, 0.05, 60)
    ci = bootstrap((x,), np.mean, n_resamples=999, random_state=np.random.default_rng(0)).confidence_interval
    assert mean_ci(x, 999, 0) == pytest.approx([ci.low, ci.high])
    assert mean_ci(np.full(5, 0.3), 999, 0) == [0.3, 0.3] and mean_ci(x[:1], 999, 0) == [None, None]
