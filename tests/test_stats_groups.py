"""Grouped dispersion (stats/groups.py) against its definitions and SciPy."""

import numpy as np
import pytest
from scipy.stats import kruskal

from stablex.stats.groups import _weighted_medians, compare_groups, dispersion


def test_weighted_medians_equal_the_median_of_the_repeated_values():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        v, w = rng.normal(size=n), rng.integers(0, 4, size=(5, n)).astype(float)
        got = _weighted_medians(v, w)
        for b in range(5):
            if w[b].sum() == 0:
                assert np.isnan(got[b])
            else:
                assert got[b] == pytest.approx(np.median(np.repeat(v, w[b].astype(int))), abs=1e-12)


def test_compare_groups_matches_scipy_and_leaves_out_the_unaligned():
    rng = np.random.default_rng(1)
    text = np.repeat(np.arange(40), 10)
    groups = np.array([("NOUN", "DET", None)[i % 3] for i in range(400)], object)
    values = rng.normal(size=400) + np.where(groups == "NOUN", 1.0, 0.0)
    out = compare_groups(values, groups, text, 200, np.random.default_rng(0))
    assert out["left_out"] == int((groups == None).sum())  # noqa: E711
    a, b = values[groups == "DET"], values[groups == "NOUN"]
    h, p = kruskal(a, b)
    assert out["test"]["H"] == pytest.approx(h) and out["test"]["p_value"] == pytest.approx(p)
    assert out["test"]["epsilon_squared"] == pytest.approx(h / (len(a) + len(b) - 1))
    for name, x in (("DET", a), ("NOUN", b)):
        g = out["groups"][name]
        assert g["median"] == pytest.approx(np.median(x)) and g["n_texts"] == 40
        assert g["median_ci"][0] <= g["median"] <= g["median_ci"][1]


def test_dispersion_is_scale_free_per_text():
    sd, mean, text = np.array([1.0, 2.0, 10.0, 20.0]), np.array([3.0, 4.0, 30.0, 40.0]), np.array([0, 0, 1, 1])
    d = dispersion(sd, mean, text, 2)
    np.testing.assert_allclose(d[:2], d[2:])  # text 1 is text 0 times 10
    np.testing.assert_allclose(d[:2], sd[:2] / np.sqrt((9 + 16) / 2))


def test_class_effect_is_tested_with_the_text_as_unit():
    """Texts differ in level, class does not matter: the word-level Kruskal-Wallis finds an
    'effect' (pseudo-replication), the text-level permutation does not; a real class shift is
    found by both. The text-level H equals SciPy's on the per-text medians."""
    from stablex.stats.groups import class_test

    rng = np.random.default_rng(2)
    T, W = 40, 50
    text = np.repeat(np.arange(T), W)
    level = rng.normal(0, 1, T)  # each text's own level
    cls = np.array(["news", "opinion"] * (T // 2), object)
    values = level[text] + rng.normal(0, 0.3, T * W)
    labels = cls[text]
    words = compare_groups(values, labels, text, 50, np.random.default_rng(0))["test"]
    texts = class_test(values, labels, text, 999, np.random.default_rng(0))
    med = np.array([np.median(values[text == t]) for t in range(T)])
    assert texts["H"] == pytest.approx(kruskal(med[cls == "news"], med[cls == "opinion"]).statistic)
    assert texts["n_texts"] == T and texts["epsilon_squared"] == pytest.approx(texts["H"] / (T - 1))
    # with no class effect the text test keeps its level; words as units see one much more often
    null_text, null_words = [], []
    for _ in range(60):
        v = rng.normal(0, 1, T)[text] + rng.normal(0, 0.3, T * W)
        null_text.append(class_test(v, labels, text, 199, rng)["p_value"] < 0.05)
        null_words.append(compare_groups(v, labels, text, 1, rng)["test"]["p_value"] < 0.05)
    assert np.mean(null_text) < 0.15 and np.mean(null_words) > 0.5, (np.mean(null_text), np.mean(null_words))
    assert words["n_words"] == T * W and texts["p_value"] > 0.01
    shifted = values + np.where(labels == "opinion", 1.5, 0.0)
    assert class_test(shifted, labels, text, 999, np.random.default_rng(0))["p_value"] < 0.01


def test_pos_effect_by_within_text_permutation_and_magnitude_matching():
    """POS mixes that differ by text do not make a POS effect under within-text permutation; a
    dispersion that only follows magnitude disappears once words are matched on magnitude."""
    from stablex.stats.groups import magnitude_matched, within_text_effects, within_text_test

    rng = np.random.default_rng(3)
    T, W = 60, 30
    text = np.repeat(np.arange(T), W)
    share_noun = rng.uniform(0.1, 0.9, T)  # texts differ in their POS mix ...
    pos = np.where(rng.uniform(size=T * W) < share_noun[text], "NOUN", "DET").astype(object)
    level = 2 * share_noun  # ... and texts rich in nouns have a higher level
    values = level[text] + rng.normal(0, 0.3, T * W)
    naive = compare_groups(values, pos, text, 50, np.random.default_rng(0))["test"]["p_value"]
    within = within_text_test(values, pos, text, 499, np.random.default_rng(0))
    assert naive < 0.001 and within["p_value"] > 0.05  # the text mix, not the POS
    real = values + np.where(pos == "NOUN", 0.3, 0.0)
    assert within_text_test(real, pos, text, 499, np.random.default_rng(0))["p_value"] < 0.01
    eff = within_text_effects(real, pos, text, 200, np.random.default_rng(0))
    assert eff["NOUN"]["median_effect"] > 0 > eff["DET"]["median_effect"]
    # dispersion = f(magnitude) only, nouns carry larger magnitudes
    mag = np.where(pos == "NOUN", rng.uniform(0.5, 2, T * W), rng.uniform(0, 1.2, T * W))
    disp = 0.5 * mag + rng.normal(0, 0.05, T * W)
    raw = within_text_test(disp, pos, text, 199, np.random.default_rng(0))["p_value"]
    matched, edges = magnitude_matched(disp, mag, n_bins=10)
    assert len(edges) == 11 and raw < 0.01
    m = within_text_effects(matched, pos, text, 200, np.random.default_rng(0))
    r = within_text_effects(disp, pos, text, 200, np.random.default_rng(0))
    assert abs(m["NOUN"]["median_effect"]) < 0.25 * abs(r["NOUN"]["median_effect"])
