"""Signal/noise, per-word figures, half-split and reliability on hand-computed cases."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from stablex.stats import reliability as rel
from stablex.stats.intervals import fisher_interval, spearman_brown

# one text, 3 seeds, 2 words
X = np.array([[[1.0, 0.0], [3.0, 0.0], [2.0, -3.0]]])


def test_signal_noise_hand_computed():
    signal, noise, snr = rel.signal_noise(X)
    # means (2, -1): variance over words 2.25; variances over seeds (1, 3): mean 2
    assert signal[0] == pytest.approx(2.25) and noise[0] == pytest.approx(2.0) and snr[0] == pytest.approx(1.125)


def test_snr_undefined_without_noise():
    s, n, snr = rel.signal_noise(np.array([[[1.0, 2.0], [1.0, 2.0]]]))
    assert n[0] == 0 and np.isnan(snr[0])


def test_signal_noise_replicates_of_all_seeds_equal_point():
    w = np.ones((1, 3), np.float32)
    s, n, means = rel.signal_noise_replicates(X, w)
    assert s[0, 0] == pytest.approx(2.25) and n[0, 0] == pytest.approx(2.0)
    assert means[0, 0] == pytest.approx([2.0, -1.0])


def test_per_word_hand_computed():
    pw = rel.per_word(X)
    assert pw["mean"][0] == pytest.approx([2.0, -1.0])
    assert pw["sd"][0] == pytest.approx([1.0, np.sqrt(3)])
    assert pw["cv"][0] == pytest.approx([0.5, np.sqrt(3)])
    assert pw["sign_consistency"][0] == pytest.approx([1.0, 1 / 3])  # zeros agree with no sign


def test_cv_undefined_at_zero_mean():
    pw = rel.per_word(np.array([[[1.0], [-1.0]]]))
    assert np.isnan(pw["cv"][0, 0]) and pw["sign_consistency"][0, 0] == 0.5


def test_half_split_pairs_seed_i_with_seed_i_plus_half():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(1, 6, 5))
    r, n, lo, hi = rel.half_split(Y)
    assert n == 15
    expected = pearsonr(Y[0, :3].ravel(), Y[0, 3:].ravel()).statistic
    assert r[0] == pytest.approx(expected)
    assert (lo[0], hi[0]) == pytest.approx(fisher_interval(expected, 15))


def test_half_split_single_word_undefined():
    r, n, lo, hi = rel.half_split(np.ones((2, 4, 1)))
    assert np.isnan(r).all() and np.isnan(lo).all()


def test_split_reliability_perfect_consensus():
    Y = np.tile(np.array([1.0, 2.0, 4.0]), (1, 4, 1))
    r, rho1, need = rel.split_reliability(Y, 0.9)
    assert r[0] == 1.0 and rho1[0] == pytest.approx(1.0) and need[0] == 1


def test_curve_grid():
    assert rel.curve_grid(200) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 100]
    assert rel.curve_grid(4) == [1, 2] and rel.curve_grid(1) == []


def test_consensus_curve_hand_computed():
    Y = np.array([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]])
    perms = np.array([[0, 1, 2, 3]])
    c = rel.consensus_curve(Y, perms, [1, 2])
    assert c[0, 0, 0] == pytest.approx(1.0)  # seed 0 vs seed 2
    assert c[0, 0, 1] == 0.0  # mean of seeds 0, 1 is constant: correlation 0 by convention


def test_fit_single_seed_recovers_spearman_brown():
    grid = [1, 2, 4, 8]
    measured = [spearman_brown(0.3, s) for s in grid]
    assert rel.fit_single_seed(grid, measured) == pytest.approx(0.3, abs=1e-5)


def test_a_seed_draw_of_one_distinct_seed_has_undefined_noise_not_a_rounding_residue():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 3, 7)).astype(np.float32) * 1e3
    weights = np.array([[3, 0, 0], [2, 1, 0], [1, 1, 1]], np.float32)
    _, noise, _ = rel.signal_noise_replicates(X, weights)
    assert np.isnan(noise[:, 0]).all() and np.isfinite(noise[:, 1:]).all() and (noise[:, 1:] > 0).all()
    np.testing.assert_allclose(noise[:, 2], rel.signal_noise(X)[1], rtol=1e-4)
