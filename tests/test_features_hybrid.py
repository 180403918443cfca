"""The hybrid's parts: paired statistics against their definitions, matching on real Le Monde texts,
lexicons rebuilt inside each fold, and the held-out pool of the real study run."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from stablex.config import CorpusConfig
from stablex.data.corpus import load_corpus
from stablex.explain.words import word_spans
from stablex.features.compare import mcnemar, paired_difference, wilson
from stablex.features.lexicons import normalise_word
from stablex.features.matching import ExplanationStats, LexiconEntry, count_words, match_rate, text_words
from stablex.features.selection import HybridClassifier, TrainingData

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"


# --- statistics against their definitions --------------------------------------------------------


def test_paired_difference_and_mcnemar_against_their_definitions():
    rng = np.random.default_rng(3)
    a = rng.random(400) < 0.78  # the feature model right on 78% of texts
    b = np.where(rng.random(400) < 0.85, a, ~a)  # a variant that disagrees on 15% of them
    b[:12] = True
    res = paired_difference(a, b, n_boot=4000)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert res["mcnemar"]["b"] == only_a and res["mcnemar"]["c"] == only_b and res["n"] == 400
    assert res["difference"] == pytest.approx(b.mean() - a.mean()) == pytest.approx((only_b - only_a) / 400)
    # exact McNemar = two-sided binomial test on the discordant texts, written out
    m = only_a + only_b
    tail = sum(math.comb(m, k) for k in range(min(only_a, only_b) + 1)) / 2**m
    assert res["mcnemar"]["p_exact"] == pytest.approx(min(1.0, 2 * tail), rel=1e-9)
    chi = (abs(only_a - only_b) - 1) ** 2 / m
    assert res["mcnemar"]["p_chi2"] == pytest.approx(math.erfc(math.sqrt(chi / 2)), rel=1e-9)
    # the paired percentile interval: close to the normal one of the per-text differences
    d = b.astype(float) - a.astype(float)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    lo, hi = res["ci"]
    assert lo < res["difference"] < hi
    assert (hi - lo) / (2 * half) == pytest.approx(1.0, abs=0.08)
    assert lo == pytest.approx(d.mean() - half, abs=0.006) and hi == pytest.approx(d.mean() + half, abs=0.006)
    # unpaired it would be wider: the pairing is what gives the test its power
    unpaired = 1.96 * math.sqrt(a.var(ddof=1) / 400 + b.var(ddof=1) / 400)
    assert half < unpaired
    # no discordant text: difference 0, interval a point, p = 1
    same = paired_difference(a, a.copy(), n_boot=100)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0] and same["mcnemar"]["p_exact"] == 1.0
    assert mcnemar(a, ~a)["b"] + mcnemar(a, ~a)["c"] == 400
    lo, hi = wilson(a)
    ci = binomtest(int(a.sum()), 400).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high))


# --- matching on real texts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lemonde_texts() -> list[str]:
    """The first 1,500 texts as the corpus reader builds them (title + summary), as in a run."""
    if not CORPUS.exists():
        pytest.fail(f"corpus not found: {CORPUS}")
    return load_corpus(CorpusConfig(path=str(CORPUS.resolve()))).texts[:1500]


def _explanation_columns(texts: list[str]) -> dict[str, np.ndarray]:
    """What the explain stage writes for these texts: one row per word of explain/words.py."""
    cols: dict[str, list] = {"seed": [], "doc_id": [], "word": [], "relevance": [], "target": []}
    for i, text in enumerate(texts):
        for a, b in word_spans(text):
            for k, v in (
                ("seed", 0),
                ("doc_id", f"d{i}"),
                ("word", text[a:b]),
                ("relevance", 1.0),
                ("target", "opinion"),
            ):
                cols[k].append(v)
    return {k: np.array(v, dtype=object if k in ("doc_id", "word", "target") else float) for k, v in cols.items()}


def test_every_explained_word_is_found_in_its_texts(lemonde_texts):
    texts = lemonde_texts[:600]
    stats = ExplanationStats.from_columns(_explanation_columns(texts), ["news", "opinion"])
    counts = count_words(texts, stats.words)
    entries = [LexiconEntry("consensus", "opinion", i + 1, w, 1.0, 1.0, 1, 1) for i, w in enumerate(stats.words)]
    rate = match_rate(entries, stats.words, counts)
    assert rate["rate"] == 1.0 and rate["unmatched"] == [], rate  # a word that never matches would be a bug
    assert counts.counts.sum() == sum(len(text_words(t)) for t in texts)
    # spaCy's tokens one by one would miss the hyphenated compounds (it splits most of them)
    from stablex.features.extract import load_nlp, prepare_text

    forms = {normalise_word(t.text) for d in load_nlp().tokenizer.pipe(prepare_text(x) for x in texts) for t in d}
    hyphenated = [w for w in stats.words if re.fullmatch(r"\w+(-\w+)+", w)]
    assert len(hyphenated) > 20
    assert sum(w not in forms for w in hyphenated) > len(hyphenated) / 4


def test_normalisation_on_real_cases(lemonde_texts):
    seen = {"guillemets": 0, "elision": 0, "hyphen": 0, "capital": 0}
    for text in lemonde_texts:
        words = set(text_words(text))
        text = unicodedata.normalize("NFKC", text)  # some texts hold decomposed accents (« e\u0300 »)
        for m in re.finditer(r"«\s*(\w+)(?![\w'’-])", text):  # the guillemet is a word, so is the word after it
            assert "«" in words and m.group(1).lower() in words
            seen["guillemets"] += 1
        for m in re.finditer(r"(?<![\w-])([LlDd])['’]([A-ZÉ]\w+)(?![\w'’-])", text):  # « l'Occident » -> « occident »
            assert m.group(2).lower() in words and m.group(1).lower() + "'" in words
            seen["elision"] += 1
        for m in re.finditer(r"(?<![\w-])([A-Za-zÀ-ÿ]+-[A-Za-zÀ-ÿ]+)(?![\w'’-])", text):  # « Royaume-Uni » whole
            assert m.group(1).lower() in words, (m.group(1), text)
            seen["hyphen"] += 1
        for m in re.finditer(r"(?<![\w'’-])([A-Z][a-zé]{3,})(?![\w'’-])", text):
            assert m.group(1).lower() in words and m.group(1) not in words
            seen["capital"] += 1
    assert min(seen.values()) > 30, seen
    assert normalise_word("L’Occident") == "occident" and normalise_word("«") == "«"
    assert normalise_word("Royaume-Uni,") == "royaume-uni" and normalise_word("ﬁn") == "fin"  # NFKC ligature
    assert normalise_word("-t-il") == "t-il" and normalise_word("aujourd’hui") == "aujourd'hui"


# --- lexicons rebuilt inside each fold --------------------------------------------------------------


def test_a_fit_reads_only_the_explanations_of_its_rows():
    texts = [f"tribune {'chronique' if i % 3 == 0 else 'match'} numéro{i % 5}" for i in range(60)]
    y = np.array([i % 2 for i in range(60)])
    cols = {"seed": [], "doc_id": [], "word": [], "relevance": [], "target": []}
    explained = [i for i in range(60) if i % 4 != 3]  # a quarter of the training texts not explained
    for i in explained:
        for w in texts[i].split():
            rel = 2.0 if (w == "chronique") == bool(y[i]) else -1.0
            for k, v in (("seed", 0), ("doc_id", f"d{i}"), ("word", w), ("relevance", rel), ("target", "opinion")):
                cols[k].append(v)
    stats = ExplanationStats.from_columns({k: np.array(v, dtype=object) for k, v in cols.items()}, ["news", "opinion"])
    position = {d: j for j, d in enumerate(stats.doc_ids)}
    data = TrainingData(
        np.zeros((60, 1)),
        count_words(texts, stats.words),
        np.array([position.get(f"d{i}", -1) for i in range(60)]),
        stats,
    )
    rows = np.arange(30)  # a fold's training rows: the first half
    est = HybridClassifier(data, "counts", top_words=10, min_freq=1, min_sign_consistency=0.0).fit(
        rows.reshape(-1, 1), y[rows]
    )
    in_fold = [i for i in rows if i in explained]
    for entries in est.lexicons_.values():
        for e in entries:
            assert e.doc_freq == sum(e.word in texts[i].split() for i in in_fold), e
    full = HybridClassifier(data, "counts", top_words=10, min_freq=1, min_sign_consistency=0.0).fit(
        np.arange(60).reshape(-1, 1), y
    )
    tribune = {e.word: e.doc_freq for v in full.lexicons_.values() for e in v}.get("tribune")
    assert tribune in (None, len(explained))


# --- the held-out pool of the real study run ---------------------------------------------------------


def test_held_out_pool_is_disjoint_from_the_real_split(study_run):
    from stablex.config import StudyConfig
    from stablex.data.corpus import load_corpus

    run = study_run.run
    split = pq.read_table(run / "split.parquet").to_pydict()
    pool = pq.read_table(run / "hybrid" / "pool" / "pool.parquet").to_pydict()
    assert pool["doc_id"] and not set(pool["doc_id"]) & set(split["doc_id"])  # train, validation and test
    assert not set(pool["text"]) & set(split["text"])
    labels = pool["label"]
    assert labels.count("news") == labels.count("opinion") == len(labels) // 2
    corpus = load_corpus(StudyConfig.from_toml(run / "study.toml").corpus)  # same texts as the corpus reader's
    text_of = dict(zip(corpus.doc_ids, corpus.texts))
    assert all(text_of[d] == t for d, t in zip(pool["doc_id"], pool["text"]))
    metrics = json.loads((run / "hybrid" / "metrics.json").read_text())
    assert metrics["n_pool"] == len(labels) and metrics["pool"]["excluded_in_split"] == len(split["doc_id"])
    for res in metrics["variants"].values():
        assert res["held_out"]["n"] == len(labels) and res["test"]["n"] == metrics["n_test"]
    explained = set(
        pq.read_table(run / "explanations" / "lrp@train" / "seed-0.parquet", columns=["doc_id"])
        .column("doc_id")
        .to_pylist()
    )
    train = {d for d, s in zip(split["doc_id"], split["split"]) if s == "train"}
    assert explained <= train and metrics["n_train_explained"] == len(explained)
    assert metrics["matching"]["rate"] > 0.8


def test_real_explanation_words_are_found_in_their_texts(study_run):
    """The matching rule against what the real explain stage wrote (e5-small, lrp, training texts):
    every word of a text's explanation is found in that text by `count_words`, and every lexicon
    word in as many training texts as its doc_freq or more (more: words past the 128-token
    truncation are counted in the text but were not explained)."""
    import csv

    from stablex.features.hybrid import read_train_explanations

    run = study_run.run
    split = pq.read_table(run / "split.parquet").to_pydict()
    text_of = dict(zip(split["doc_id"], split["text"]))
    train = {d for d, s in zip(split["doc_id"], split["split"]) if s == "train"}
    cols = read_train_explanations(run, run / "explanations" / "lrp@train", train)
    stats = ExplanationStats.from_columns(cols, ["news", "opinion"])
    counts = count_words([text_of[d] for d in stats.doc_ids], stats.words)
    found = (counts.counts > 0).astype(np.float64)
    assert stats.present.nnz > 1000 and (stats.present - found).max() <= 0  # no explained word unfound
    doc_freq = np.asarray(found.sum(axis=0)).ravel()
    index = {w: j for j, w in enumerate(stats.words)}
    with open(run / "hybrid" / "lexicon.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for r in rows:
        assert 1 <= int(r["doc_freq"]) <= doc_freq[index[r["word"]]], r
