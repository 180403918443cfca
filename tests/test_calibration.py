"""The reduced calibration harness: every test stablex concludes from holds its level and every
interval it prints covers, under a known truth (synthetic data, a few seconds; the full table is
benchmarks/calibration.py)."""

import numpy as np
import pytest

from stablex.stats import calibration as cal

LEVEL_SLACK = 0.025
MIN_COVERAGE = 0.92


def _check(rows):
    for r in rows:
        if not r.printed:
            continue
        if r.kind == "test":
            assert r.false_positive_rate <= r.alpha + LEVEL_SLACK, r
        else:
            assert r.coverage >= MIN_COVERAGE, r


@pytest.mark.parametrize("S", [3, 20])
def test_accuracy_tests_hold_their_level_and_intervals_cover(S):
    rows = cal.accuracy_cases(S, 1000, 400, np.random.default_rng(S))
    _check(rows)
    by = {r.case: r for r in rows}
    study = by["accuracy: best vs worst z-test (the study's)"]
    assert study.role == "replication" and not study.printed
    if S == 20:  # the extreme pair of 20 equal seeds "differs" most of the time: why it is not the reading
        assert study.false_positive_rate > 0.5


def test_explanation_intervals_cover_the_population_median():
    _check(cal.explanation_cases(5, 30, 10, 400, np.random.default_rng(5), n_boot=50))


def test_compare_of_one_protocol_finds_no_difference_at_its_level():
    rows = cal.compare_cases(4, 40, 10, 400, np.random.default_rng(4), n_boot=50, n_perm=69)
    _check(rows)
    by = {r.case: r for r in rows}
    assert by["compare: median rho differs (models permuted)"].printed  # 4 vs 4 can reach p < 0.05
    texts_only = by["compare: median rho differs (texts permuted, models fixed: removed)"]
    assert not texts_only.printed and texts_only.false_positive_rate > 2 * texts_only.alpha  # why it went


def test_compare_refuses_to_conclude_with_three_seeds_per_run():
    from stablex.stats.compare import seeds_to_conclude, smallest_p

    assert smallest_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)
    assert seeds_to_conclude(0.05) == 4
    row = cal.compare_cases(3, 20, 8, 5, np.random.default_rng(0), n_boot=20, n_perm=19)[0]
    assert not row.printed and row.false_positive_rate == 0.0


def test_mirrored_relabelling_ties_despite_float32_round_off():
    """5 vs 5 (252 relabellings): the split that swaps the sides gives the observed |difference|
    up to float32 round-off; it counts as a tie, so p is never below the design's smallest p
    (the frozen-vs-full comparison printed p = 0.004 < 0.0079 for half-split r before this)."""
    from stablex.stats.compare import permutation_p, permutation_weights, smallest_p

    W = permutation_weights(5, 5, 9999, np.random.default_rng(0))
    assert len(W) == 252 and (W[0, 0, :5] == 1).all()
    mirror = int(np.flatnonzero((W[:, 1, :5] == 1).all(1))[0])
    rng = np.random.default_rng(1)
    perm = np.empty((4, len(W), 2))  # 4 texts, each relabelling's per-text values of A and B
    perm[:, :, 0] = 0.76 + 0.01 * rng.standard_normal((4, len(W)))
    perm[:, :, 1] = 0.76 + 0.01 * rng.standard_normal((4, len(W)))
    perm[:, 0] = [0.82, 0.70]  # observed: A steadier by 0.12
    perm[:, mirror] = [0.70, 0.82 - 5e-8]  # its mirror, off by float32 round-off
    assert permutation_p(perm) == pytest.approx(smallest_p(5, 5))  # 2 / 252, not 1 / 252


def test_source_variance_ratios_cover_with_models_as_the_random_unit():
    """Additive sources, one pin: the model jackknife covers, yet the row is not printed, since
    one pin cannot rule out the interaction under which it fails (next test)."""
    from stablex.stats.sources import MIN_PINS

    rows = cal.source_cases(3, 20, 6, 400, np.random.default_rng(3), texts_only=False)
    assert MIN_PINS > 1 and not any(r.printed for r in rows)
    assert all(r.coverage >= MIN_COVERAGE for r in rows), rows


def test_several_pins_make_the_source_interval_cover_the_expected_ratio():
    """With an interaction the reference matters: one pin's interval covers that pin's ratio, not
    the expected one (init below 60 %); six pins, one seed per (pin, source), cover it, and no
    ratio's interval lies above 1 (the law of total variance)."""
    rng = np.random.default_rng(6)
    one = {r.case: r for r in cal.pinned_source_cases(1, 3, 3, 0.8, 20, 6, 150, rng)}
    assert not next(iter(one.values())).printed
    assert one["sources, interaction 0.8: init_seed variance ratio, model jackknife 95% interval"].coverage < 0.6
    rows = cal.pinned_source_cases(6, 0, 1, 0.8, 20, 6, 150, rng)
    assert all(r.printed for r in rows)
    assert not any(r.printed for r in cal.pinned_source_cases(4, 0, 1, 0.8, 20, 6, 5, rng))  # below MIN_PINS
    _check(rows)
    additive = cal.pinned_source_cases(6, 0, 1, 0.0, 20, 6, 100, rng)
    _check(additive)  # includes the law-of-total-variance row: the sum's interval holds 1


def test_pinned_truth_is_the_simulated_expected_variance():
    """The truth the coverage is measured against, checked by brute force on many pins."""
    from stablex.stats import sources

    X, plans = cal.pinned_design_run(cal.SOURCE_VARIANCE, 150, 0, 1, 0.8, 4, 200, np.random.default_rng(1))
    dsg = sources.design(plans)
    var = {k: float(v.sum()) for k, v in sources.variances(X, dsg).items()}  # point ratios only
    for s, t in cal.pinned_truth(cal.SOURCE_VARIANCE, 0.8).items():
        assert var[s] / var[dsg.reference] == pytest.approx(t, abs=0.05), s
