"""Agreement metrics on hand-computed cases and their properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import kendalltau, pearsonr, spearmanr

from stablex.stats import agreement as ag


def test_topk_hand_computed():
    a = [0.9, -0.5, 0.1, 0.3, 0.0]
    b = [0.8, 0.5, 0.2, -0.05, 0.0]
    # top-3 by |x|: a -> [0, 1, 3], b -> [0, 1, 2]
    m = ag.agreement(a, b, ks=[3])
    assert m["fa_3"] == pytest.approx(2 / 3)  # {0, 1} shared
    assert m["ra_3"] == pytest.approx(2 / 3)  # 0 and 1 at the same places
    assert m["sa_3"] == pytest.approx(1 / 3)  # word 1 has opposite signs
    assert m["sra_3"] == pytest.approx(1 / 3)


def test_rank_agreement_needs_same_position():
    a = [3.0, 2.0, 1.0]
    b = [2.0, 3.0, 1.0]
    m = ag.agreement(a, b, ks=[2])
    assert m["fa_2"] == 1.0 and m["ra_2"] == 0.0 and m["sa_2"] == 1.0 and m["sra_2"] == 0.0


def test_k_larger_than_text_is_clipped():
    a = [1.0, -2.0]
    b = [-2.0, 1.0]
    m = ag.agreement(a, b, ks=[5])  # k -> 2: both words in both top lists
    assert m["fa_5"] == 1.0
    assert m["ra_5"] == 0.0  # |a| orders (1, 0), |b| orders (0, 1)
    assert m["sa_5"] == 0.0  # signs are opposite for both words


def test_ties_broken_by_word_position():
    order = ag.top_order(np.array([[[1.0, -1.0, 1.0, 0.5]]]), 2)
    assert order.tolist() == [[[0, 1]]]


def test_zero_relevance_is_its_own_sign():
    m = ag.agreement([0.0, 1.0], [0.0, 2.0], ks=[2])
    assert m["sa_2"] == 1.0
    m = ag.agreement([0.0, 1.0], [-0.1, 2.0], ks=[2])
    assert m["sa_2"] == 0.5


def test_correlations_match_scipy_and_ties_average():
    a = [1.0, 2.0, 2.0, 5.0, 0.0]
    b = [2.0, 1.0, 3.0, 3.0, -1.0]
    m = ag.agreement(a, b)
    assert m["spearman"] == pytest.approx(spearmanr(a, b).statistic, abs=1e-6)
    assert m["pearson"] == pytest.approx(pearsonr(a, b).statistic, abs=1e-6)


def test_pairwise_rank_hand_computed_with_ties():
    a = [1.0, 2.0, 3.0]
    b = [1.0, 3.0, 3.0]
    # pairs (0,1) < <, (0,2) < <, (1,2) < vs = -> 2 of 3 agree
    assert ag.agreement(a, b)["pairwise_rank"] == pytest.approx(2 / 3)
    assert ag.agreement([1.0, 1.0], [2.0, 2.0])["pairwise_rank"] == 1.0  # tied in both


def test_pairwise_rank_equals_kendall_without_ties():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    tau = kendalltau(a, b).statistic
    assert ag.agreement(a, b)["pairwise_rank"] == pytest.approx((tau + 1) / 2, abs=1e-6)


def test_pairwise_rank_sampled_for_long_texts():
    i, j = ag.word_pairs(200, max_pairs=1000)
    assert len(i) == 1000 and (i < j).all()
    assert np.array_equal(ag.word_pairs(200, 1000)[0], i)  # deterministic
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    b = a + rng.normal(size=200)
    tau = kendalltau(a, b).statistic
    assert ag.agreement(a, b)["pairwise_rank"] == pytest.approx((tau + 1) / 2, abs=0.03)


def test_constant_vectors():
    m = ag.agreement([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
    assert m["pearson"] == 0.0 and m["spearman"] == 0.0
    m = ag.agreement([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert m["pearson"] == 1.0 and m["spearman"] == 1.0
    assert m["fa_5"] == 1.0


def test_single_word_text():
    m = ag.agreement([0.5], [-0.2])
    assert m["fa_5"] == 1.0 and m["ra_5"] == 1.0 and m["sa_5"] == 0.0
    assert np.isnan(m["spearman"]) and np.isnan(m["pearson"]) and np.isnan(m["pairwise_rank"])


def test_pair_mean_and_replicates():
    X = np.array([[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]])
    A = ag.correlation_pairs(X)
    # pairs: (0,1)=1, (0,2)=-1, (1,2)=-1
    assert ag.pair_mean(A)[0] == pytest.approx(-1 / 3)
    w = np.array([[1, 1, 1], [2, 1, 0], [3, 0, 0], [0, 1, 2]], np.float32)
    rep = ag.pair_replicates(A, w)[0]
    assert rep[0] == pytest.approx(-1 / 3)
    assert rep[1] == pytest.approx(1.0)  # seeds 0, 0, 1: copies of seed 0 are not paired
    assert np.isnan(rep[2])  # one distinct seed
    assert rep[3] == pytest.approx(-1.0)  # 1, 2, 2: pairs (1,2) twice


vectors = arrays(np.float64, st.integers(2, 12), elements=st.floats(-10, 10, allow_nan=False, width=32))


@settings(max_examples=60, deadline=None)
@given(vectors, st.data())
def test_symmetry(a, data):
    b = data.draw(arrays(np.float64, len(a), elements=st.floats(-10, 10, allow_nan=False, width=32)))
    assert ag.agreement(a, b) == pytest.approx(ag.agreement(b, a), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(vectors)
def test_identical_explanations_agree_perfectly(a):
    m = ag.agreement(a, a)
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in m.values())


@settings(max_examples=60, deadline=None)
@given(vectors, st.data(), st.floats(0.1, 10))
def test_rank_metrics_invariant_to_monotone_rescaling(a, data, scale):
    b = data.draw(arrays(np.float64, len(a), elements=st.floats(-10, 10, allow_nan=False, width=32)))

    def f(x):
        return scale * x**3 + x  # strictly increasing and sign preserving

    m1, m2 = ag.agreement(a, b), ag.agreement(f(a), f(b))
    for name in ("spearman", "pairwise_rank", "fa_5", "ra_5", "sa_5", "sra_10"):
        assert m1[name] == pytest.approx(m2[name], abs=1e-5), name


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (4, 6), elements=st.floats(-5, 5, allow_nan=False, width=32)))
def test_metrics_are_bounded(X):
    for A in ag.all_pairs(X[None], [3]).values():
        assert (A >= -1 - 1e-6).all() and (A <= 1 + 1e-6).all()


def test_one_spearman_convention_for_degenerate_vectors_in_both_comparisons():
    """The feature-model stability comparison and `stablex analyze` share one implementation:
    two constant vectors order nothing differently (1), a constant against a varying one has no
    correlation (0), otherwise scipy's Spearman with average ranks."""
    from scipy.stats import spearmanr

    from stablex.features.stability import text_agreement

    const = np.array([[0.5, 0.5, 0.5], [2.0, 2.0, 2.0]])
    assert text_agreement(const, 2)[0] == 1.0 == ag.agreement(const[0], const[1])["spearman"]
    mixed = np.array([[0.5, 0.5, 0.5], [0.1, 0.3, 0.2]])
    assert text_agreement(mixed, 2)[0] == 0.0 == ag.agreement(mixed[0], mixed[1])["spearman"]
    R = np.random.default_rng(1).normal(size=(3, 12))
    R[1, :4] = R[1, 0]  # ties
    expected = np.mean([spearmanr(R[a], R[b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))])
    assert text_agreement(R, 5)[0] == pytest.approx(expected, abs=1e-6)
