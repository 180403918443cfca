"""Calibration under a known truth: does every test hold its level, every interval its coverage?

Synthetic data only (numpy; no model, no corpus), so `benchmarks/calibration.py` can run the
full table and `tests/test_calibration.py` a reduced one in seconds. Every case calls the
function stablex itself uses for the figure it prints.

Generators:
- `correctness`: seed x text correctness [S, n]. Text t has a difficulty (probability of being
  right, Beta-distributed with mean ~0.92); seed s shifts its logit by a_s ~ N(0, tau). tau = 0
  is the null "every seed equally accurate"; `true_seed_sd(tau)` is the SD of the seeds'
  expected accuracies it implies.
- `explanations`: X [T, S, L] with a text effect (the words' true relevance mu), a seed effect
  shared across texts (each seed has its own bias per word type of a vocabulary, and its own
  noise scale, so texts are *not* independent given the seeds) and noise. Two runs of one
  protocol are two independent draws of seeds on the same texts.

Each case returns a `CaseResult` row of the calibration table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, logit

from stablex.stats import sources

ALPHA = 0.05
VOCAB = 60  # word types the seed effects attach to


@dataclass(frozen=True)
class CaseResult:
    """One row of calibration.json."""

    case: str
    kind: str  # "test" (false_positive_rate under the null) or "interval" (coverage of the truth)
    alpha: float
    false_positive_rate: float | None
    coverage: float | None
    n_sim: int
    seeds: str  # e.g. "5" or "3 vs 3"
    texts: int
    printed: bool  # stablex prints a conclusion / the interval at this design
    role: str = "stablex"  # "stablex" or "replication" (the study's reading, printed as such, never concluded on)

    def to_dict(self) -> dict:
        return asdict(self)


# --- accuracy ----------------------------------------------------------------------------------


def text_difficulty(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] probability of a right answer per text (Beta(3, 0.25): mean ~0.92, a hard tail)."""
    return np.clip(rng.beta(3.0, 0.25, size=n), 1e-6, 1 - 1e-6)


def correctness(n_sim: int, S: int, n: int, tau: float, rng: np.random.Generator, with_truth: bool = False):
    """[n_sim, S, n] correctness; each simulated study draws its texts and its seeds. With
    `with_truth`, also [n_sim] the SD over the seed population of the expected accuracy on each
    study's own test texts (the estimand of the seed SD: seeds random, these texts)."""
    p = text_difficulty(n * n_sim, rng).reshape(n_sim, 1, n)
    a = rng.normal(0, tau, size=(n_sim, S, 1)) if tau > 0 else 0.0
    y = rng.random((n_sim, S, n)) < expit(logit(p) + a)
    if not with_truth:
        return y
    lp = logit(p[:, 0, :])  # [n_sim, n]
    acc = np.stack([expit(lp + tau * x).mean(-1) for x in _GH_X], -1)  # [n_sim, nodes]
    m = (acc * _GH_W).sum(-1, keepdims=True)
    return y, np.sqrt(((acc - m) ** 2 * _GH_W).sum(-1))


_LP = logit(text_difficulty(50_000, np.random.default_rng(7)))  # the text population for the truth
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)  # Gauss-Hermite nodes for a N(0, 1) seed effect
_GH_W = _GH_W / _GH_W.sum()


def true_seed_sd(tau: float) -> float:
    """SD over seeds of the expected accuracy (over the text population) at logit shift SD tau
    (Gauss-Hermite quadrature over the seed effect)."""
    if tau == 0:
        return 0.0
    acc = np.array([expit(_LP + tau * x).mean() for x in _GH_X])
    m = (_GH_W * acc).sum()
    return float(np.sqrt((_GH_W * (acc - m) ** 2).sum()))


_TAU: dict[float, float] = {}


def tau_for_sd(sd: float) -> float:
    """The logit shift SD whose seeds' accuracies have SD `sd` (bisection, cached)."""
    if sd not in _TAU:
        lo, hi = 0.0, 2.0
        for _ in range(25):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if true_seed_sd(mid) < sd else (lo, mid)
        _TAU[sd] = (lo + hi) / 2
    return _TAU[sd]


def accuracy_cases(
    S: int, n: int, n_sim: int, rng: np.random.Generator, margin: float = 0.01, chunk: int = 50
) -> list[CaseResult]:
    """The omnibus test, the study's extreme-pair z-test, the seed SD interval and the
    equivalence reading (seed SD upper bound below the margin) at S seeds x n texts."""
    from stablex.stats.accuracy import anova_components, cochran_q_batch, seed_sd_bounds
    from stablex.stats.equivalence import two_proportion_z

    q_rej = z_rej = cov0 = 0
    chunk = max(1, min(chunk, 20000 // max(S, 1)))
    for c in range(0, n_sim, chunk):
        y = correctness(min(chunk, n_sim - c), S, n, 0.0, rng)
        q_rej += int((cochran_q_batch(y) < ALPHA).sum())
        acc = y.mean(-1)
        for a in acc:  # the study: the best against the worst of all seeds, pooled z-test
            z_rej += two_proportion_z(float(a.max()), float(a.min()), n, n)[1] < ALPHA
        ms, mr = anova_components(y)
        lo, hi, _ = seed_sd_bounds(ms, mr, S, n)
        cov0 += int(((lo <= 0) & (0 <= hi)).sum())
    # coverage where seeds do differ, and the equivalence reading at its null boundary (SD = margin);
    # the truth is each study's own: the seed SD on its test texts
    tau = tau_for_sd(0.005)
    tau_m = tau_for_sd(margin)
    cov1 = eq_rej = 0
    for c in range(0, n_sim, chunk):
        m = min(chunk, n_sim - c)
        y, sd_true = correctness(m, S, n, tau, rng, with_truth=True)
        ms, mr = anova_components(y)
        lo, hi, _ = seed_sd_bounds(ms, mr, S, n)
        cov1 += int(((lo <= sd_true) & (sd_true <= hi)).sum())
        y, sd_m = correctness(m, S, n, tau_m, rng, with_truth=True)
        ms, mr = anova_components(y)
        _, _, up = seed_sd_bounds(ms, mr, S, n)
        eq_rej += int((up < sd_m).sum())  # "equally accurate" although the true SD is the margin
    s = str(S)
    return [
        CaseResult("accuracy: seeds differ (Cochran's Q)", "test", ALPHA, q_rej / n_sim, None, n_sim, s, n, True),
        CaseResult(
            "accuracy: best vs worst z-test (the study's)",
            "test",
            ALPHA,
            z_rej / n_sim,
            None,
            n_sim,
            s,
            n,
            False,
            "replication",
        ),
        CaseResult(
            "accuracy: seed SD 95% interval (true SD 0)", "interval", ALPHA, None, cov0 / n_sim, n_sim, s, n, True
        ),
        CaseResult(
            "accuracy: seed SD 95% interval (true SD 0.5 pt)", "interval", ALPHA, None, cov1 / n_sim, n_sim, s, n, True
        ),
        CaseResult(
            "accuracy: equally accurate (seed SD upper bound < margin) at true SD = margin",
            "test",
            ALPHA,
            eq_rej / n_sim,
            None,
            n_sim,
            s,
            n,
            True,
        ),
    ]


# --- explanations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Texts:
    """The fixed part of a synthetic corpus: true relevances and word types."""

    mu: np.ndarray  # [T, L]
    types: np.ndarray  # [T, L] word type ids (vocabulary VOCAB)
    noise_sd: np.ndarray  # [T] per-text noise scale


def texts(T: int, L: int, rng: np.random.Generator) -> Texts:
    return Texts(rng.normal(0, 1, size=(T, L)), rng.integers(0, VOCAB, size=(T, L)), np.exp(rng.normal(0, 0.3, size=T)))


SEED_BIAS = 0.5  # SD of a seed's bias per word type
SEED_SCALE = 0.25  # SD of log of a seed's noise scale


def explanations(tx: Texts, S: int, rng: np.random.Generator) -> np.ndarray:
    """X [T, S, L] = mu + seed bias of the word's type + seed-scaled noise."""
    T, L = tx.mu.shape
    bias = rng.normal(0, SEED_BIAS, size=(S, VOCAB))
    scale = np.exp(rng.normal(0, SEED_SCALE, size=S))
    e = rng.normal(size=(T, S, L)) * tx.noise_sd[:, None, None] * scale[None, :, None]
    return (tx.mu[:, None, :] + bias[:, tx.types].transpose(1, 0, 2) + e).astype(np.float32)


def true_noise(tx: Texts) -> np.ndarray:
    """[T] expected noise per text: E[scale^2] sd_t^2 + SEED_BIAS^2."""
    e_scale2 = math.exp(2 * SEED_SCALE**2)
    return tx.noise_sd**2 * e_scale2 + SEED_BIAS**2


def true_signal(tx: Texts) -> np.ndarray:
    """[T] the variance over words of the true relevance."""
    return tx.mu.var(-1)


def population_medians(L: int, rng: np.random.Generator, n: int = 1000, n_seeds: int = 100) -> dict[str, float]:
    """Median over the text population of each per-text figure's value over the seed population:
    noise, signal, SNR analytically; Spearman rho and half-split r by Monte Carlo (n texts x
    n_seeds seeds, whose mean over seed pairs stands for the expectation)."""
    from stablex.stats import agreement, reliability

    tx = texts(n, L, rng)
    noise, signal = true_noise(tx), true_signal(tx)
    X = explanations(tx, n_seeds, rng)
    rho = agreement.pair_mean(agreement.correlation_pairs(X, ranks=True))
    half = reliability.half_split(X)[0]
    return {
        "noise": float(np.median(noise)),
        "signal": float(np.median(signal)),
        "snr": float(np.median(signal / noise)),
        "spearman": float(np.median(rho)),
        "half_r": float(np.median(half)),
    }


_TRUTH: dict[int, dict[str, float]] = {}


def explanation_cases(
    S: int, T: int, L: int, n_sim: int, rng: np.random.Generator, n_boot: int = 200
) -> list[CaseResult]:
    """Coverage of the multi-bootstrap intervals (`intervals.multi_bootstrap`, what analyze
    prints) of the median over texts of the per-text noise, signal, SNR, Spearman rho and
    half-split r; every simulated study draws its texts and its seeds, and the truth is the
    text population's median of the seed population's value."""
    from stablex.stats import agreement, reliability
    from stablex.stats.intervals import multi_bootstrap, seed_weights

    if L not in _TRUTH:
        _TRUTH[L] = population_medians(L, np.random.default_rng(12345))
    truth = _TRUTH[L]
    hits = {m: 0 for m in truth}
    for _ in range(n_sim):
        tx = texts(T, L, rng)
        X = explanations(tx, S, rng)
        W = seed_weights(S, n_boot, rng)
        sig, noi, snr = reliability.signal_noise(X)
        sb, nb, _ = reliability.signal_noise_replicates(X, W)
        A = agreement.correlation_pairs(X, ranks=True)
        figs = {
            "noise": (noi, nb),
            "signal": (sig, sb),
            "snr": (snr, reliability.snr(sb, nb)),
            "spearman": (agreement.pair_mean(A), agreement.pair_replicates(A, W)),
            "half_r": (reliability.half_split(X)[0], reliability.half_split_replicates(X, W)),
        }
        for m, (point, reps) in figs.items():
            ci = multi_bootstrap(reps, point, n_boot, rng, n_seeds=S)["median_ci"]
            hits[m] += int(ci is not None and ci[0] <= truth[m] <= ci[1])
    from stablex.stats.analyze import interval_printed

    return [
        CaseResult(
            f"explanations: median {m}, multi-bootstrap 95% interval",
            "interval",
            ALPHA,
            None,
            hits[m] / n_sim,
            n_sim,
            str(S),
            T,
            interval_printed(m, S),
        )
        for m in truth
    ]


def compare_cases(
    S: int, T: int, L: int, n_sim: int, rng: np.random.Generator, n_boot: int = 200, n_perm: int = 199, k: int = 5
) -> list[CaseResult]:
    """Two runs of the same protocol on the same texts (truth: no difference): false-positive
    rate of the model permutation test, of the old texts-only permutation test, and coverage of
    0 by the multi-bootstrap interval, for the median Spearman rho."""
    from scipy.stats import permutation_test

    from stablex.stats import compare as cmp

    tx = texts(T, L, rng)
    perm_rej = text_rej = cov = 0
    min_p = cmp.smallest_p(S, S)
    conclusive = min_p <= ALPHA
    for i in range(n_sim):
        X = np.concatenate([explanations(tx, S, rng), explanations(tx, S, rng)], axis=1)  # [T, 2S, L]
        Wp = cmp.permutation_weights(S, S, n_perm, rng)
        Wb = cmp.bootstrap_weights(S, S, n_boot, rng)
        allw = np.concatenate([Wp.reshape(-1, 2 * S), Wb.reshape(-1, 2 * S)])
        v = cmp.text_values(X, allw, k, ("spearman",))["spearman"]
        P = len(Wp)
        perm = v[:, : 2 * P].reshape(T, P, 2)
        boot = v[:, 2 * P :].reshape(T, n_boot, 2)
        p = cmp.permutation_p(perm)
        perm_rej += int(conclusive and p < ALPHA)
        xa, xb = perm[:, 0, 0], perm[:, 0, 1]
        res = permutation_test(
            (xa, xb),
            lambda a, b, axis=-1: np.median(a, axis) - np.median(b, axis),
            permutation_type="samples",
            n_resamples=n_perm,
            vectorized=True,
            random_state=np.random.default_rng(i),
        )
        text_rej += int(res.pvalue < ALPHA)
        obs = float(np.median(xa) - np.median(xb))
        lo, hi = cmp.difference_interval(boot[:, :, 0], boot[:, :, 1], True, rng, obs, S)
        cov += int(lo <= 0 <= hi)
    s = f"{S} vs {S}"
    return [
        CaseResult(
            "compare: median rho differs (models permuted)",
            "test",
            ALPHA,
            perm_rej / n_sim,
            None,
            n_sim,
            s,
            T,
            conclusive,
        ),
        CaseResult(
            "compare: median rho differs (texts permuted, models fixed: removed)",
            "test",
            ALPHA,
            text_rej / n_sim,
            None,
            n_sim,
            s,
            T,
            False,
            "removed",
        ),
        CaseResult(
            "compare: multi-bootstrap 95% interval of the difference",
            "interval",
            ALPHA,
            None,
            cov / n_sim,
            n_sim,
            s,
            T,
            S >= cmp.MIN_SEEDS_INTERVAL,
        ),
    ]


# --- source designs ----------------------------------------------------------------------------

SOURCE_VARIANCE = {"init_seed": 0.5, "order_seed": 0.3, "dropout_seed": 0.2}  # the truth: ratios 0.5, 0.3, 0.2


def source_design_run(per_group: int, T: int, L: int, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """X [T, S, L] and the seeds' plans of a design: one group per source varying only it (the
    others pinned to 0) and one group varying all; each distinct value of a source adds its own
    effect per word type (variance SOURCE_VARIANCE[source]), shared across texts."""
    names = list(SOURCE_VARIANCE)
    plans = []
    for gi, g in enumerate(names + ["all"]):
        for i in range(per_group):
            plans.append({s: (1 + i + 100 * gi) if g in (s, "all") else 0 for s in names})
    types = rng.integers(0, VOCAB, size=(T, L))
    X = np.repeat(rng.normal(0, 1, size=(T, 1, L)), len(plans), axis=1)
    for s in names:
        values = sorted({p[s] for p in plans})
        eff = {v: rng.normal(0, math.sqrt(SOURCE_VARIANCE[s]), size=VOCAB) for v in values}
        for j, p in enumerate(plans):
            X[:, j, :] += eff[p[s]][types]
    return X.astype(np.float32), plans


def source_cases(
    per_group: int, T: int, L: int, n_sim: int, rng: np.random.Generator, texts_only: bool = True
) -> list[CaseResult]:
    """Coverage of the delete-one-model jackknife interval of each single source's variance ratio
    (what analyze prints) and of the texts-only interval it replaced, at `per_group` seeds per
    group of a 4-group design."""

    total_var = sum(SOURCE_VARIANCE.values())
    hits = {s: 0 for s in SOURCE_VARIANCE}
    hits_text = {s: 0 for s in SOURCE_VARIANCE}
    for _ in range(n_sim):
        X, plans = source_design_run(per_group, T, L, rng)
        dsg = sources.design(plans)
        var = sources.variances(X, dsg)
        total = {k: float(v.mean(-1).sum()) for k, v in var.items()}
        jack = [
            {k: float(v.mean(-1).sum()) for k, v in sources.variances(X, sources.drop_seed(dsg, j)).items()}
            for j in range(len(plans))
        ]
        ratios = sources.variance_ratios(total, jack, dsg.reference)["ratios"]
        texts = (
            sources.overall_shares({k: v.mean(-1) for k, v in var.items()}, dsg.reference, 200, rng)
            if texts_only
            else {}
        )
        for s, v in SOURCE_VARIANCE.items():
            truth = v / total_var
            ci = (ratios.get(s) or {}).get("ratio_ci_models")
            hits[s] += int(ci is not None and ci[0] <= truth <= ci[1])
            tci = (texts.get(s) or {}).get("share_ci")
            hits_text[s] += int(tci is not None and tci[0] <= truth <= tci[1])
    seeds = f"{per_group} per group x 4"
    return [
        CaseResult(
            f"sources: {s} variance ratio, model jackknife 95% interval",
            "interval",
            ALPHA,
            None,
            hits[s] / n_sim,
            n_sim,
            seeds,
            T,
            1 >= sources.MIN_PINS,  # one pin: withheld by analyze (it cannot rule out an interaction)
        )
        for s in SOURCE_VARIANCE
    ] + [
        CaseResult(
            f"sources: {s} variance ratio, texts-only interval (before issue 19)",
            "interval",
            ALPHA,
            None,
            hits_text[s] / n_sim,
            n_sim,
            seeds,
            T,
            False,
            "conditional",
        )
        for s in SOURCE_VARIANCE
        if texts_only
    ]


# --- source designs with several reference pins -------------------------------------------------


def pinned_design_run(
    variance: dict[str, float],
    pins: int,
    extra_all: int,
    per_pin: int,
    delta: float,
    T: int,
    L: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[dict]]:
    """X [T, S, L] and the plans of a design with `pins` reference pins: each pin is a model of
    the "all" group (its own reference), with `per_pin` seeds per (pin, source) that re-draw that
    source only; `extra_all` further all-random models. Each distinct value of a source adds an
    effect per word type (variance variance[source]); the first source's effect is scaled by
    g(the other sources' values), g^2 in {1 - delta, 1 + delta} (mean 1): an interaction that
    makes one pin's conditional variance differ from the expected one (what one pin cannot see)."""
    names = list(variance)
    plans: list[dict] = []
    for pin in range(pins):
        plans.append({s: 1 + 1000 * pin for s in names})
    for pin in range(pins):
        for si, s in enumerate(names):
            for k in range(per_pin):
                plans.append({**plans[pin], s: 2 + 1000 * pin + 100 * si + k})
    for i in range(extra_all):
        plans.append({s: 900_000 + 10 * i + si for si, s in enumerate(names)})
    types = rng.integers(0, VOCAB, size=(T, L))
    X = np.repeat(rng.normal(0, 1, size=(T, 1, L)), len(plans), axis=1)
    g: dict[tuple, float] = {}
    for si, s in enumerate(names):
        eff = {v: rng.normal(0, math.sqrt(variance[s]), size=VOCAB) for v in sorted({p[s] for p in plans})}
        for j, p in enumerate(plans):
            scale = 1.0
            if si == 0 and delta:
                key = tuple(p[o] for o in names[1:])
                if key not in g:
                    g[key] = math.sqrt(1 + delta * (1 if rng.random() < 0.5 else -1))
                scale = g[key]
            X[:, j, :] += scale * eff[p[s]][types]
    return X.astype(np.float32), plans


def pinned_truth(variance: dict[str, float], delta: float) -> dict[str, float]:
    """Expected conditional variance of each source over the reference, / the total variance:
    the first source sigma^2 E[g^2] = sigma^2; every other one adds sigma_1^2 Var(g), because g
    changes with it."""
    names = list(variance)
    var_g = (math.sqrt(1 + delta) - math.sqrt(1 - delta)) ** 2 / 4
    total = sum(variance.values())
    return {s: (variance[s] + (variance[names[0]] * var_g if i else 0.0)) / total for i, s in enumerate(names)}


def jackknife_ratios(X: np.ndarray, plans: list[dict]) -> dict:
    """What analyze computes: the design's pairs, the variance ratios and their delete-one-model
    jackknife interval, and the law-of-total-variance check."""

    dsg = sources.design(plans, bootstrap="data_seed" in plans[0])  # data counts when the plans draw it
    total = {k: float(v.mean(-1).sum()) for k, v in sources.variances(X, dsg).items()}
    jack = [
        {k: float(v.mean(-1).sum()) for k, v in sources.variances(X, sources.drop_seed(dsg, j)).items()}
        for j in range(len(plans))
    ]
    return sources.variance_ratios(total, jack, dsg.reference)


def pinned_source_cases(
    pins: int, extra_all: int, per_pin: int, delta: float, T: int, L: int, n_sim: int, rng: np.random.Generator
) -> list[CaseResult]:
    """Coverage of the model jackknife interval of each source's variance ratio when the
    reference is drawn `pins` times (pins = 1: the one-pin design), under an interaction of
    strength `delta` (0: additive sources), and how often the law-of-total-variance check
    holds: no ratio's interval above 1 and, additive sources only, the sum's interval holding 1."""
    truth = pinned_truth(SOURCE_VARIANCE, delta)
    hits = {s: 0 for s in SOURCE_VARIANCE}
    holds = 0
    for _ in range(n_sim):
        X, plans = pinned_design_run(SOURCE_VARIANCE, pins, extra_all, per_pin, delta, T, L, rng)
        res = jackknife_ratios(X, plans)
        for s, t in truth.items():
            ci = (res["ratios"].get(s) or {}).get("ratio_ci_models")
            hits[s] += int(ci is not None and ci[0] <= t <= ci[1])
        check = res["total_variance_check"]
        holds += int(check["consistent"] if delta == 0 else not check["exceeds_total"])
    S = pins * (1 + per_pin * len(SOURCE_VARIANCE)) + extra_all
    seeds = f"{pins} pin(s) x {per_pin} per source + {extra_all} all = {S}"
    kind = "additive" if delta == 0 else f"interaction {delta}"
    rows = [
        CaseResult(
            f"sources, {kind}: {s} variance ratio, model jackknife 95% interval",
            "interval",
            ALPHA,
            None,
            hits[s] / n_sim,
            n_sim,
            seeds,
            T,
            pins >= sources.MIN_PINS,
        )
        for s in SOURCE_VARIANCE
    ]
    what = "sum of ratios holds 1, none above 1" if delta == 0 else "no ratio above 1"
    rows.append(
        CaseResult(
            f"sources, {kind}: law of total variance ({what})",
            "interval",
            ALPHA,
            None,
            holds / n_sim,
            n_sim,
            seeds,
            T,
            pins >= sources.MIN_PINS,
        )
    )
    return rows
