"""What the API returns prints as tables (terminal) and renders as HTML (Jupyter), with the
numbers of the result it wraps; the wrapped result's fields stay readable."""

from __future__ import annotations

import re

import stablex
from report_run import build_handmade_run

TEXTS = [
    "Le gouvernement a annoncé une réforme des retraites ce mardi matin.",
    "Je pense que cette réforme est une erreur profonde pour le pays.",
    "Les chiffres du chômage publiés hier montrent une baisse nette.",
    "Il faut le dire : nos dirigeants ont perdu le sens commun.",
] * 3


def test_analysis_prints_and_renders_its_figures(tmp_path):
    run = build_handmade_run(tmp_path, TEXTS, analyse=False)
    rep = stablex.analyze(run, "lrp", bootstrap=20, groups=False)
    assert rep.summary["n_seeds"] == 3 and rep.summary["n_texts"] == 12  # read through to the result
    m = rep.summary["metrics"]["spearman"]
    lo, hi = m["median_ci"]
    text, html = str(rep), rep._repr_html_()
    row = next(line for line in text.splitlines() if re.search(r"\bspearman\b", line))
    assert f"{m['median']:.3f}" in row and f"[{lo:.3f}, {hi:.3f}]" in row and row.rstrip(" │").endswith("12")
    assert html.startswith("<!DOCTYPE html>") and f"{m['median']:.3f}" in html and "spearman" in html


def _at_80(obj) -> str:
    import io

    from rich.console import Console

    console = Console(width=80, file=io.StringIO(), record=True)
    console.print(obj)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing cut: cells fold, long headers are abbreviated with a legend
    return text


def test_every_terminal_table_fits_80_columns_without_cutting_a_value(tmp_path):
    import numpy as np

    from stablex.explain.faithfulness import FaithfulnessResult, compare
    from stablex.report.terminal import FaithfulnessReport, ModelsReport
    from stablex.stats.accuracy import seed_accuracy
    from stablex.stats.equivalence import equivalence

    run = build_handmade_run(tmp_path, TEXTS)
    rep = stablex.analyze(run, "lrp", bootstrap=20, groups=False)
    lo, hi = rep.summary["metrics"]["spearman"]["median_ci"]
    assert f"[{lo:.3f}," in _at_80(rep) and f"{hi:.3f}]" in _at_80(rep)

    comparison, _ = stablex.compare(run, run, "lrp", n_boot=20, n_permutations=99)
    text = _at_80(comparison)
    flat = " ".join(text.split())
    assert "95% CI" in text and "p: the models permuted between the runs" in flat and "half-split r" in text

    rng = np.random.default_rng(0)  # 10 seeds on 2,500 texts: the widest accuracy table
    truth = rng.random(2500) < 0.86
    correct = {s: np.where(rng.random(2500) < 0.08, ~truth, truth) for s in range(10)}
    acc = {s: float(c.mean()) for s, c in correct.items()}
    models = ModelsReport(equivalence(acc, 2500, correct=correct), acc, seed_accuracy(correct))
    sd = models.seeds.seed_sd
    text = _at_80(models)
    assert f"[{sd.ci[0]:.4f}," in text and f"{sd.ci[1]:.4f}]" in text and "Cochran's" in text

    base_c, base_s = rng.normal(0.05, 0.05, 100), rng.normal(0.26, 0.05, 100)
    scored = {
        name: {
            "comprehensiveness_aopc": float((base_c + shift).mean()),
            "sufficiency_aopc": float((base_s - shift).mean()),
            "per_text": {"comprehensiveness": (base_c + shift).tolist(), "sufficiency": (base_s - shift).tolist()},
        }
        for name, shift in (("random", 0.0), ("lrp", 0.2), ("gxi", 0.05))
    }
    compare(scored, 200, 0)
    faith = FaithfulnessReport(FaithfulnessResult(path=run / "explanations" / "faithfulness.json", seeds=[0, 1, 2]))
    faith.result.methods = scored
    text = _at_80(faith)
    gain = scored["lrp"]["vs"]["random"]["comprehensiveness_gain_ci"]
    assert f"[{gain[0]:+.4f}," in text and f"{gain[1]:+.4f}]" in text
    flat = " ".join(text.split())
    assert "compr.: comprehensiveness AOPC" in flat and "suff.: sufficiency AOPC" in flat
