"""A real fine-tuned e5-small seed on Le Monde (title + summary): does LRP see the shortcuts?

The corpus README lists surface cues that give the label away: « » quotes, "tribune",
"chronique", "éditorial(iste)", "analyse", "au « Monde »". A model trained briefly on these
texts uses them; an explanation method that works must put them at the top of opinion texts
far more often than a random ranking of the same words would. The seeds are the
shared study run's (400 balanced texts, 64 tokens, upper half of the encoder fine-tuned).
"""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

MARKERS = {"«", "»", "tribune", "chronique", "éditorial", "éditorialiste", "analyse", "monde"}
K = 5


@pytest.fixture(scope="module")
def run(study_run) -> Path:
    """The end-to-end study run (conftest): 2 real seeds, explained by `stablex run`."""
    return study_run.run


def test_lrp_puts_genre_markers_on_top_of_opinion_texts(run):
    out = run / "explanations" / "lrp"
    t = pq.read_table(out / "seed-0.parquet").to_pydict()
    docs: dict[str, list] = {}
    for d, w, r, tg in zip(t["doc_id"], t["word"], t["relevance"], t["target"]):
        if tg == "opinion":
            docs.setdefault(d, []).append((r, w.lower()))
    hits, expected = [], []
    for words in docs.values():
        n = len(words)
        m = sum(w in MARKERS for _, w in words)
        if m == 0 or n <= K:
            continue
        top = sorted(words, key=lambda x: -x[0])[:K]
        hits.append(any(w in MARKERS for _, w in top))
        expected.append(1 - comb(n - m, K) / comb(n, K))  # a random ranking's chance
    assert len(hits) >= 10, "too few opinion texts with a marker to judge"
    observed, chance = float(np.mean(hits)), float(np.mean(expected))
    assert observed >= 0.6 and observed >= chance + 0.2, (observed, chance)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["randomisation"]["differs"]  # a randomised model's explanations are different


def test_faithfulness_ranks_lrp_above_random(run):
    scores = json.loads((run / "explanations" / "faithfulness.json").read_text())
    methods = scores.get("methods", scores)
    lrp, rnd = methods["lrp"], methods["random"]
    assert lrp["comprehensiveness_aopc"] > rnd["comprehensiveness_aopc"]
    assert lrp["sufficiency_aopc"] < rnd["sufficiency_aopc"]
