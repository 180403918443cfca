"""Random-source decomposition on hand-made designs."""

import numpy as np
import pytest

from stablex.stats import sources


def plan(init, order, dropout, data=0):
    return {"init_seed": init, "order_seed": order, "dropout_seed": dropout, "data_seed": data}


def test_design_classifies_pairs_by_differing_sources():
    # seeds 0-2 vary init only; seeds 3-4 vary order only
    plans = [plan(1, 9, 9), plan(2, 9, 9), plan(3, 9, 9), plan(5, 1, 9), plan(5, 2, 9)]
    d = sources.design(plans)
    assert d.n_pairs == {"init_seed": 3, "order_seed": 1, "init_seed+order_seed": 6}
    assert d.reference == "all seeds" and d.informative
    assert "data_seed" not in d.sources
    assert "data_seed" in sources.design(plans, bootstrap=True).sources


def test_unpinned_run_is_not_informative():
    d = sources.design([plan(i, i + 10, i + 20) for i in range(4)])
    assert not d.informative and d.reference == "init_seed+order_seed+dropout_seed"


def test_pair_variance_hand_computed():
    X = np.array([[[0.0], [2.0], [4.0]]])  # one text, 3 seeds, 1 word
    mask = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)  # pair (0, 1) only
    assert sources.pair_variance(X, mask)[0, 0] == pytest.approx(2.0)  # (0 - 2)^2 / 2
    full = 1 - np.eye(3, dtype=np.float32)
    assert sources.pair_variance(X, full)[0, 0] == pytest.approx(X[0, :, 0].var(ddof=1))


def test_shares_attribute_variance_to_the_varying_source():
    rng = np.random.default_rng(0)
    plans = [plan(i, 0, 0) for i in range(6)] + [plan(100, i, 0) for i in range(1, 7)]
    init_effect = rng.normal(scale=2.0, size=(6, 40))
    order_effect = rng.normal(scale=0.5, size=(6, 40))
    X = np.concatenate([init_effect, order_effect])[None]  # 1 text, 12 seeds, 40 words
    d = sources.design(plans)
    var = sources.variances(X, d)
    assert var["init_seed"].mean() == pytest.approx(init_effect.var(0, ddof=1).mean())
    assert var["order_seed"].mean() == pytest.approx(order_effect.var(0, ddof=1).mean())
    out = sources.shares_per_text(var, d.reference, 200, rng)
    assert out["share_init_seed"][0] > out["share_order_seed"][0]
    assert out["share_init_seed_lo"][0] <= out["share_init_seed"][0] <= out["share_init_seed_hi"][0]
    overall = sources.overall_shares({k: v.mean(-1) for k, v in var.items()}, d.reference, 50, rng)
    assert overall["init_seed"]["share"] == pytest.approx(out["share_init_seed"][0])


def test_variance_ratios_have_model_level_intervals_and_check_the_total_variance():
    from stablex.stats.sources import drop_seed, variance_ratios

    ref = "init_seed+order_seed"
    total = {"init_seed": 0.5, "order_seed": 0.45, ref: 1.0}
    ds = np.array([-0.1, 0.0, 0.05, 0.15, -0.05])
    jack = [{"init_seed": 0.5 + d, "order_seed": 0.45 + d, ref: 1.0} for d in ds]
    out = variance_ratios(total, jack, ref)
    r = out["ratios"]["init_seed"]
    assert r["ratio"] == 0.5 and r["jackknife_models"] == 5
    reps = 0.5 + ds
    se = np.sqrt(4 / 5 * ((reps - reps.mean()) ** 2).sum())
    from scipy.stats import t

    assert r["ratio_ci_models"] == pytest.approx([0.5 - t.ppf(0.975, 4) * se, 0.5 + t.ppf(0.975, 4) * se])
    chk = out["total_variance_check"]
    assert chk["sum_of_single_ratios"] == pytest.approx(0.95) and chk["additive"] and chk["consistent"]
    # a single source "moving explanations more than all of them together": flagged
    bad = variance_ratios(
        {"init_seed": 2.9, ref: 1.0}, [{"init_seed": 2.9 + d, ref: 1.0} for d in (0, 0.1, -0.1, 0.05)], ref
    )
    assert (
        bad["total_variance_check"]["exceeds_total"] == ["init_seed"] and not bad["total_variance_check"]["consistent"]
    )
    # drop_seed removes a seed's pairs and the sets it alone made
    d = sources.design(
        [{"init_seed": 0, "order_seed": 0}, {"init_seed": 1, "order_seed": 0}, {"init_seed": 1, "order_seed": 1}]
    )
    d0 = drop_seed(d, 0)
    assert set(d0.sets) == {"order_seed"} and d0.n_pairs == {"order_seed": 1}


@pytest.mark.parametrize("pins", [1, 4, 6])
def test_reference_pins_count_the_independent_references_and_gate_the_intervals(pins):
    """A design's pins: the distinct values at which its sets hold the other sources. Below
    MIN_PINS (6, where the calibration table's coverage reaches 92 %) the intervals are withheld."""
    from stablex.stats import calibration as cal

    X, plans = cal.pinned_design_run(cal.SOURCE_VARIANCE, pins, 0, 2, 0.8, 10, 6, np.random.default_rng(pins))
    d = sources.design(plans)
    assert d.reference_pins == pins and set(cal.SOURCE_VARIANCE) <= set(d.pins)
    assert sources.drop_seed(d, 0).reference_pins == pins  # one model fewer: the same references
    total = {k: float(v.mean(-1).sum()) for k, v in sources.variances(X, d).items()}
    jack = [
        {k: float(v.mean(-1).sum()) for k, v in sources.variances(X, sources.drop_seed(d, j)).items()}
        for j in range(len(plans))
    ]
    out = sources.variance_ratios(total, jack, d.reference, pins=d.reference_pins)
    ungated = sources.variance_ratios(total, jack, d.reference)
    for label, r in out["ratios"].items():
        assert r["ratio"] == pytest.approx(ungated["ratios"][label]["ratio"])
        assert (r["ratio_ci_models"] is None) == (pins < sources.MIN_PINS)
    assert ("withheld" in out) == (pins < sources.MIN_PINS)
