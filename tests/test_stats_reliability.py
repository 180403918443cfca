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
    # signal: mean over the 3 distinct pairs of the covariance over words (ddof=0) of two seeds:
    # seeds (1,0), (3,0), (2,-3): covariances over words 0.75, 1.25, 3.75 -> mean 5.75 / 3 = 11.5 / 6
    assert signal[0] == pytest.approx(11.5 / 6)
    # noise: variances over seeds (1, 3): mean 2
    assert noise[0] == pytest.approx(2.0) and snr[0] == pytest.approx(11.5 / 12)


def test_signal_is_the_mean_pairwise_covariance_over_words():
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(2, 4, 6))
    covs = [[np.cov(Y[t, a], Y[t, b], bias=True)[0, 1] for a in range(4) for b in range(4) if a != b] for t in range(2)]
    np.testing.assert_allclose(rel.signal_noise(Y)[0], np.mean(covs, 1))


def test_replicates_pair_only_distinct_seeds():
    """A seed drawn twice is not paired with itself: the replicate equals the pair-weighted mean over
    distinct seeds (weights m_a m_b), not the statistic of the duplicated array."""
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(1, 4, 5))
    m = np.array([[2.0, 1.0, 1.0, 0.0]])
    sig, noi, _ = rel.signal_noise_replicates(Y, m)
    pairs = [(a, b) for a in range(4) for b in range(4) if a != b and m[0, a] * m[0, b] > 0]
    w = np.array([m[0, a] * m[0, b] for a, b in pairs])
    cov = np.array([np.cov(Y[0, a], Y[0, b], bias=True)[0, 1] for a, b in pairs])
    half_sq = np.array([((Y[0, a] - Y[0, b]) ** 2).mean() / 2 for a, b in pairs])
    assert sig[0, 0] == pytest.approx(np.average(cov, weights=w), rel=1e-5)
    assert noi[0, 0] == pytest.approx(np.average(half_sq, weights=w), rel=1e-5)
    one = rel.signal_noise_replicates(Y, np.array([[4.0, 0, 0, 0]]))
    assert np.isnan(one[0][0, 0]) and np.isnan(one[1][0, 0])


def test_snr_undefined_without_noise():
    s, n, snr = rel.signal_noise(np.array([[[1.0, 2.0], [1.0, 2.0]]]))
    assert n[0] == 0 and np.isnan(snr[0])


def test_signal_noise_replicates_of_all_seeds_equal_point():
    w = np.ones((1, 3), np.float32)
    s, n, means = rel.signal_noise_replicates(X, w)
    assert s[0, 0] == pytest.approx(11.5 / 6) and n[0, 0] == pytest.approx(2.0)
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


def test_half_split_pools_every_pairing_of_distinct_seeds():
    """The study's stacked half-split correlation averaged over pairings: the pooled (double-entry)
    correlation over all ordered pairs of distinct seeds, every seed used (5 seeds: none dropped)."""
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(1, 5, 4)) + rng.normal(size=(1, 1, 4))
    r, n, lo, hi = rel.half_split(Y)
    assert n == 8
    a = np.concatenate([Y[0, i] for i in range(5) for j in range(5) if i != j])
    b = np.concatenate([Y[0, j] for i in range(5) for j in range(5) if i != j])
    expected = pearsonr(a, b).statistic  # both stacked columns have the same mean and variance
    assert r[0] == pytest.approx(expected)
    assert (lo[0], hi[0]) == pytest.approx(fisher_interval(expected, 8))
    w = np.array([[1.0, 1, 1, 1, 1], [2, 1, 1, 1, 0]])
    reps = rel.half_split_replicates(Y, w)
    assert reps[0, 0] == pytest.approx(expected, rel=1e-5)
    keep = [(i, j) for i in range(5) for j in range(5) if i != j and w[1, i] * w[1, j] > 0]
    wt = np.concatenate([np.full(4, w[1, i] * w[1, j]) for i, j in keep])
    a = np.concatenate([Y[0, i] for i, j in keep])
    b = np.concatenate([Y[0, j] for i, j in keep])
    c = np.average(a, weights=wt)
    assert reps[0, 1] == pytest.approx(np.sum(wt * (a - c) * (b - c)) / np.sum(wt * (a - c) ** 2), rel=1e-5)


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
