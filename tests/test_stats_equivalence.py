"""TOST of best vs worst seed: against hand-computed values, its definition and SciPy's t-test."""

import math

import numpy as np
import pytest
from scipy.stats import norm, ttest_1samp

from stablex.stats.equivalence import accuracy_reading, equivalence, paired_tost, tost, unpaired_tost


def phi_sf(z: float) -> float:
    """Upper tail of the standard normal from math.erfc (independent of scipy)."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def vectors(n10: int, n01: int, n11: int, n00: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two seeds: n10 texts only the first gets right, n01 only the second, ..."""
    a = np.array([1] * n10 + [0] * n01 + [1] * n11 + [0] * n00, bool)
    b = np.array([0] * n10 + [1] * n01 + [1] * n11 + [0] * n00, bool)
    return a, b


def test_paired_tost_hand_computed():
    a, b = vectors(30, 20, 850, 100)  # n = 1000, d = 0.01
    t = paired_tost(a, b, margin=0.01)
    se = math.sqrt((0.03 + 0.02 - 0.01**2) / 1000)  # (p10 + p01 - d^2) / n
    assert t.difference == pytest.approx(0.01) and t.se == pytest.approx(se) and t.discordant == (30, 20)
    assert t.p_lower == pytest.approx(phi_sf(0.02 / se)) and t.p_upper == pytest.approx(0.5)
    assert t.p_value == pytest.approx(0.5) and not t.equivalent
    # d = 0 on 1,000 texts with 4 % discordant: z = 0.01 / sqrt(0.04 / 1000) = 1.581, p = 0.0569 (> 0.05)
    t0 = paired_tost(*vectors(20, 20, 860, 100), margin=0.01)
    assert t0.p_value == pytest.approx(phi_sf(0.01 / math.sqrt(0.04 / 1000))) == pytest.approx(0.0569, abs=1e-4)
    assert not t0.equivalent
    # the same rates on 2,000 texts: z = 2.236, p = 0.0127: equivalent within +-1 point
    t1 = paired_tost(*vectors(40, 40, 1720, 200), margin=0.01)
    assert t1.p_value == pytest.approx(0.01267, abs=1e-4) and t1.equivalent
    assert -0.01 < t1.ci[0] < t1.ci[1] < 0.01  # the 90 % interval inside the margin <=> equivalent
    assert not (-0.01 < t0.ci[0] and t0.ci[1] < 0.01)


def test_paired_tost_matches_scipy_t_test_on_the_differences():
    rng = np.random.default_rng(3)
    a = rng.random(1500) < 0.88
    b = a.copy()
    flip = rng.random(1500) < 0.06
    b[flip] = ~b[flip]
    t = paired_tost(a, b, margin=0.02)
    x = a.astype(float) - b.astype(float)
    n = len(x)
    lower = ttest_1samp(x, -0.02, alternative="greater")
    upper = ttest_1samp(x, 0.02, alternative="less")
    # same statistic up to the variance's ddof (z uses 1/n, the t-test 1/(n - 1))
    assert norm.isf(t.p_lower) == pytest.approx(lower.statistic * math.sqrt(n / (n - 1)), rel=1e-9)
    assert norm.ppf(t.p_upper) == pytest.approx(upper.statistic * math.sqrt(n / (n - 1)), rel=1e-9)
    assert t.p_value == pytest.approx(max(lower.pvalue, upper.pvalue), rel=0.03)


def test_detectable_difference_and_texts_needed_by_definition():
    t = paired_tost(*vectors(40, 30, 830, 100), margin=0.01, power=0.8)
    # the two-sided 5 % z-test rejects a true difference of mdd with probability 0.8
    assert norm.sf(norm.isf(0.025) - t.mdd / t.se) == pytest.approx(0.8, abs=1e-9)
    # n_needed is the smallest n whose TOST power at a true d = 0 reaches 0.8
    v0 = 0.07  # p10 + p01
    power = lambda n: 2 * norm.cdf(0.01 / math.sqrt(v0 / n) - norm.isf(0.05)) - 1  # noqa: E731
    assert power(t.n_needed) >= 0.8 > power(t.n_needed - 1)
    assert t.n_needed > 1000  # 1,000 texts cannot show +-1 point with 7 % discordant texts


def test_degenerate_and_unpaired_cases():
    same = paired_tost(*vectors(0, 0, 900, 100))  # two seeds right on the very same texts
    # no discordant text is not an exact zero: at most 3/n of the texts discordant (rule of three)
    assert same.difference == 0 and same.se == pytest.approx(math.sqrt(3 / 1000 / 1000)) and same.equivalent
    assert same.n_needed == math.ceil(3 / 1000 * (norm.isf(0.05) + norm.isf(0.1)) ** 2 / 0.01**2)
    few = paired_tost(*vectors(0, 0, 10, 2))  # the D20: identical predictions on 12 texts
    assert few.se == pytest.approx(math.sqrt(3 / 12 / 12)) and not few.equivalent and few.p_value > 0.4
    u = unpaired_tost(0.88, 0.86, 100)  # the case: 2 points on 100 texts
    se = math.sqrt((0.88 * 0.12 + 0.86 * 0.14) / 100)
    assert u.se == pytest.approx(se) and not u.paired and not u.equivalent
    assert u.p_value == pytest.approx(1 - phi_sf((0.02 - 0.01) / se))  # the upper test: H0 d >= +1 point
    assert u.mdd == pytest.approx((norm.isf(0.025) + norm.ppf(0.8)) * se)
    with pytest.raises(ValueError):
        tost(0.0, 0.1, 10, margin=0)


def test_equivalence_pairs_best_and_worst_by_text_and_reads_honestly():
    rng = np.random.default_rng(0)
    base = rng.random(1000) < 0.87
    correct = {0: base.copy(), 1: base.copy(), 2: base.copy()}
    correct[1][np.flatnonzero(~base)[:5]] = True  # seed 1 is right on 5 more texts: +0.5 point
    correct[2][np.flatnonzero(base)[:40]] = False  # seed 2 wrong on 40 more: -4 points
    acc = {s: float(c.mean()) for s, c in correct.items()}
    res = equivalence(acc, 1000, sizes=[3, 2], correct=correct)
    all3, two = res.subsets
    assert (all3.tost.best, all3.tost.worst) == (1, 2) and all3.tost.paired
    assert all3.tost.discordant == (45, 0) and all3.tost.p_difference < 0.05
    assert accuracy_reading(res).startswith("The 3 seeds are not equally accurate")
    assert two.seeds == [0, 1] and two.tost.discordant == (5, 0)
    assert two.tost.equivalent  # 0.5 point apart, 5 discordant texts of 1,000: inside +-1 point
    few = equivalence({0: 0.88, 1: 0.86}, 100)  # no per-text data: unpaired, nothing decided
    text = accuracy_reading(few)
    assert "too small to tell" in text and "texts would be needed" in text and "equally accurate within" not in text
    eq = equivalence(acc | {2: acc[0]}, 1000, sizes=[3], correct=correct | {2: correct[0]})
    assert accuracy_reading(eq).startswith("The 3 seeds are equally accurate within ±1 point")
