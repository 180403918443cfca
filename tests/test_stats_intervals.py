"""Fisher z, Spearman-Brown, bootstrap helpers and the equivalence analysis against known values."""

import math

import numpy as np
import pytest

from stablex.stats.equivalence import default_sizes, equivalence, select_equivalent, two_proportion_z
from stablex.stats.intervals import (
    bootstrap_mean_ci,
    fisher_interval,
    multi_bootstrap,
    seed_weights,
    seeds_needed,
    single_seed_reliability,
    spearman_brown,
)


def test_fisher_textbook_value():
    lo, hi = fisher_interval(0.5, 28)  # se = 1/5
    assert lo == pytest.approx(math.tanh(math.atanh(0.5) - 1.959964 / 5), abs=1e-6)
    assert (lo, hi) == pytest.approx((0.1564, 0.7355), abs=1e-3)


def test_fisher_reproduces_the_study_interval():
    # the study: r = 0.310 [0.292, 0.329] for 200 seeds; 100 seed pairs x ~98 words
    lo, hi = fisher_interval(0.310, 9800)
    assert lo == pytest.approx(0.292, abs=1e-3) and hi == pytest.approx(0.329, abs=1.5e-3)


def test_fisher_edge_cases():
    assert fisher_interval(0.3, 3) is None
    assert fisher_interval(1.0, 50) == (1.0, 1.0)
    assert fisher_interval(float("nan"), 50) is None


def test_spearman_brown_known_values():
    assert spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert spearman_brown(0.2, 4) == pytest.approx(0.5)
    assert single_seed_reliability(2 / 3, 2) == pytest.approx(0.5)
    assert seeds_needed(0.5, 0.9) == 9  # 9 * 0.5 / (1 + 8 * 0.5) = 0.9 exactly
    assert seeds_needed(0.2, 0.9) == 36
    assert seeds_needed(0.95, 0.9) == 1
    assert seeds_needed(0.0, 0.9) is None and seeds_needed(-0.1, 0.9) is None


def test_seed_weights_are_multinomial_draws():
    w = seed_weights(7, 50, np.random.default_rng(0))
    assert w.shape == (50, 7) and (w.sum(1) == 7).all()


def test_multi_bootstrap_excludes_undefined_and_has_no_nan():
    rng = np.random.default_rng(0)
    point = np.array([0.1, 0.2, np.nan, 0.4, 0.3])
    reps = np.tile(point[:, None], (1, 200)) + rng.normal(scale=0.01, size=(5, 200))
    out = multi_bootstrap(reps, point, 200, rng)
    assert out["n_texts"] == 4 and out["n_undefined"] == 1
    assert out["median"] == pytest.approx(0.25)
    assert out["q1"] == pytest.approx(0.175) and out["q3"] == pytest.approx(0.325)
    assert 0.1 <= out["median_ci"][0] <= 0.25 <= out["median_ci"][1] <= 0.4
    empty = multi_bootstrap(None, np.array([np.nan]), 10, rng)
    assert empty["median"] is None and empty["n_undefined"] == 1


def test_bootstrap_mean_ci_is_scipys_and_needs_two_values():
    from scipy.stats import bootstrap

    x = np.random.default_rng(2).normal(0.0, 1.0, 40)
    for method in ("percentile", "BCa"):
        ci = bootstrap(
            (x,), np.mean, n_resamples=500, method=method, random_state=np.random.default_rng(3)
        ).confidence_interval
        assert bootstrap_mean_ci(x, 500, 3, method=method) == pytest.approx([ci.low, ci.high])
    assert bootstrap_mean_ci(x[:1], 500) is None and bootstrap_mean_ci(x[:0], 500) is None
    assert bootstrap_mean_ci(np.ones(4), 500) == [1.0, 1.0]
    assert bootstrap_mean_ci(x, 0) is None


def test_two_proportion_z_known_value():
    z, p = two_proportion_z(0.941, 0.911, 1000, 1000)
    pooled = 0.926
    assert z == pytest.approx(0.03 / math.sqrt(pooled * (1 - pooled) * 2 / 1000))
    assert z == pytest.approx(2.5624, abs=1e-3) and p == pytest.approx(0.0104, abs=5e-4)
    assert two_proportion_z(1.0, 1.0, 10, 10) == (None, 1.0)


def test_equivalence_windows():
    acc = {0: 0.90, 1: 0.95, 2: 0.91, 3: 0.915, 4: 0.80}
    res = equivalence(acc, n_test=1000, sizes=[5, 3, 2])
    assert res.accuracy.mean == pytest.approx(0.895) and res.accuracy.min == 0.80 and res.accuracy.max == 0.95
    by_n = {s.n: s for s in res.subsets}
    assert by_n[5].epsilon == pytest.approx(0.15) and not by_n[5].equivalent
    assert by_n[3].seeds == [0, 2, 3] and by_n[3].epsilon == pytest.approx(0.015)
    assert by_n[2].seeds == [2, 3] and by_n[2].epsilon == pytest.approx(0.005)
    assert by_n[2].equivalent
    assert select_equivalent(acc, 3) == [0, 2, 3]


def test_equivalence_ties_prefer_higher_accuracy():
    assert select_equivalent({0: 0.90, 1: 0.91, 2: 0.92}, 2) == [1, 2]


def test_default_sizes():
    assert default_sizes(200) == [200, 150, 100, 50]
    assert default_sizes(5) == [5, 4, 3, 2]
