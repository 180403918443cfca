"""Global lexicon on hand-computed cases (2-class signed convention and the multi-class path)."""

import numpy as np
import pytest

from stablex.stats.lexicon import lexicon


def rows(table):
    return {(r["word"], r["class"]): r for r in table.to_pylist()}


def test_two_classes_every_occurrence_counts_for_both():
    R = np.array([[1.0, 4.0, 3.0], [3.0, 3.0, 1.0]], np.float32)  # 2 seeds, 3 positions (toward 'b')
    pos_text = np.array([0, 0, 1])
    pos_type = np.array([0, 1, 0])  # 'x' 'y' 'x'
    targets = np.zeros((2, 2), np.int16)
    t, s = lexicon(R, pos_text, pos_type, ["x", "y"], targets, ["a", "b"], ref=1, top_n=1, min_count=1)
    r = rows(t)
    assert r[("x", "b")]["mean_relevance"] == pytest.approx(2.0)  # (1 + 3 + 3 + 1) / 4
    assert r[("x", "a")]["mean_relevance"] == pytest.approx(-2.0)
    assert r[("x", "b")]["sd_seeds"] == pytest.approx(0.0)  # both seeds average 2
    assert r[("x", "b")]["count"] == 2 and r[("x", "b")]["n_texts"] == 2
    assert r[("y", "b")]["mean_relevance"] == pytest.approx(3.5)
    assert r[("y", "b")]["rank"] == 1 and r[("x", "b")]["rank"] == 2
    assert r[("x", "a")]["rank"] == 1
    assert s["classes"]["b"]["top_words"][0]["word"] == "y"
    assert r[("y", "b")]["top_share"] == 1.0 and r[("x", "b")]["top_share"] == 0.0
    assert s["classes"]["b"]["top_overlap_between_seeds"] == pytest.approx(1.0)  # both seeds rank y first
    assert s["classes"]["a"]["top_words"][0]["word"] == "x"
    assert not s["lemmas"]


def test_multi_class_counts_only_the_explained_class():
    R = np.array([[1.0, 5.0], [3.0, 7.0]], np.float32)  # 2 seeds, 2 positions of word 'x' in 2 texts
    targets = np.array([[0, 2], [0, 0]], np.int16)  # seed 0 explained class 2 for text 1
    t, _ = lexicon(R, np.array([0, 1]), np.array([0, 0]), ["x"], targets, ["a", "b", "c"], ref=0, min_count=1)
    r = rows(t)
    assert r[("x", "a")]["mean_relevance"] == pytest.approx((1 + 3 + 7) / 3)
    assert r[("x", "c")]["mean_relevance"] == pytest.approx(5.0)
    assert r[("x", "b")]["mean_relevance"] is None and r[("x", "b")]["rank"] is None
    assert r[("x", "c")]["sd_seeds"] is None  # only one seed explained class c
