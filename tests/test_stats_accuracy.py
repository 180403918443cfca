"""stablex's accuracy reading against its peers: statsmodels' Cochran's Q and McNemar, its
two-way ANOVA, and equivalence.paired_tost; the reading on constructed cases."""

import numpy as np
import pytest

from stablex.stats import accuracy as A
from stablex.stats.calibration import correctness
from stablex.stats.equivalence import paired_tost


def _study(S, n=1000, tau=0.0, seed=0):
    return correctness(1, S, n, tau, np.random.default_rng(seed))[0]


def test_cochran_q_equals_statsmodels():
    from statsmodels.stats.contingency_tables import cochrans_q

    for S, seed in ((3, 0), (5, 1), (20, 2)):
        y = _study(S, 400, tau=0.3, seed=seed)
        ref = cochrans_q(y.T.astype(int))
        o = A.omnibus(y)
        assert o.test == "Cochran's Q" and o.df == S - 1
        assert o.statistic == pytest.approx(ref.statistic) and o.p_value == pytest.approx(ref.pvalue)
        assert A.cochran_q_batch(y[None])[0] == pytest.approx(ref.pvalue)


def test_two_seeds_use_the_exact_mcnemar_test():
    from scipy.stats import binomtest

    a = np.array([1] * 50 + [0] * 50, bool)
    b = a.copy()
    b[:9] = False  # 9 texts only a gets right
    b[60:62] = True  # 2 texts only b gets right
    o = A.omnibus(np.stack([a, b]))
    assert o.test == "exact McNemar"
    assert o.p_value == pytest.approx(binomtest(2, 11, 0.5).pvalue)


def test_anova_components_equal_statsmodels_two_way_anova():
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    y = _study(4, 60, tau=0.5, seed=3).astype(float)
    df = pd.DataFrame([(s, t, y[s, t]) for s in range(4) for t in range(60)], columns=["seed", "text", "y"])
    table = anova_lm(smf.ols("y ~ C(seed) + C(text)", df).fit())
    ms_seed, ms_res = A.anova_components(y)
    assert ms_seed == pytest.approx(table.loc["C(seed)", "mean_sq"])
    assert ms_res == pytest.approx(table.loc["Residual", "mean_sq"])


def test_seed_sd_removes_the_test_text_noise_and_its_interval_widens_with_few_seeds():
    y = _study(20, tau=0.0, seed=4)
    s = A.seed_sd(y)
    # observed SD of 20 equal seeds is about the test-text noise alone
    assert s.observed_sd == pytest.approx(s.noise_sd, rel=0.5)
    assert s.ci[0] == 0.0 and s.sd <= s.upper <= s.ci[1]
    few = A.seed_sd(y[:3])
    assert few.ci[1] > s.ci[1]  # 3 seeds know less about the seed SD than 20


def test_pairwise_tost_is_the_worst_of_the_paired_tosts():
    y = _study(5, 800, tau=0.2, seed=5)
    r = A.pairwise_tost(y, margin=0.02, seeds=[10, 11, 12, 13, 14])
    ps = {(i, j): paired_tost(y[i], y[j], margin=0.02).p_value for i in range(5) for j in range(i + 1, 5)}
    (i, j), p = max(ps.items(), key=lambda kv: kv[1])
    assert r.pairs == 10 and r.p_value == pytest.approx(p, rel=1e-4) and r.widest == (10 + i, 10 + j)
    assert r.equivalent == (p < 0.05)


def test_reading_gives_one_answer_per_question():
    rng = np.random.default_rng(6)
    # one seed far worse: they differ
    y = _study(5, seed=7)
    y[0] = y[0] & (rng.random(1000) > 0.08)
    r = A.seed_accuracy({s: y[s] for s in range(5)})
    assert r.omnibus.differ and not r.equally_accurate
    assert A.reading(r).startswith("The 5 seeds are not equally accurate: Cochran's Q")
    # 40 equal seeds on 1,000 texts: no difference, and the seed SD bound lies below 1 point
    y = _study(40, seed=8)
    r = A.seed_accuracy({s: y[s] for s in range(40)})
    assert not r.omnibus.differ and r.equally_accurate and r.seed_sd.upper < 0.01
    assert A.reading(r).startswith("The 40 seeds are equally accurate within ±1 point")
    # 3 equal seeds: nothing detected, nothing shown (in 5 % of such studies the F bound collapses
    # to 0 and reads "equally accurate": the level the calibration checks)
    y = _study(3, seed=10)
    r = A.seed_accuracy({s: y[s] for s in range(3)})
    assert not r.omnibus.differ and not r.equally_accurate
    assert A.reading(r).startswith("No accuracy difference between the 3 seeds is detected")
    assert A.seed_accuracy({0: y[0]}) is None and "no seed-level" in A.reading(None)
