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
