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
