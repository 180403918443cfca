"""The random floor of faithfulness and the intervals over texts and seeds.

The floor ranks a real run's words uniformly whatever their token count (a chi-square on the
words of real Le Monde texts under both aggregations), where the former floor (N(0, 1) per token,
aggregated into words) did not; the crossed interval of a mean over seeds and texts covers the
true mean at its nominal rate (simulation under a known truth)."""

from __future__ import annotations

import numpy as np
import pytest

from stablex.explain.checks import first_rank_uniformity
from stablex.explain.faithfulness import crossed_mean
from stablex.explain.methods import RandomRanking
from stablex.explain.words import aggregate


@pytest.fixture(scope="module")
def real_words(trained_run):
    """The token -> word maps and token offsets of the run's explained test texts."""
    from stablex.explain.stage import select_texts
    from stablex.models.classifier import load_encoder
    from stablex.rundir import open_run

    path, cfg = trained_run
    texts = select_texts(open_run(path), cfg.explain).texts
    enc = load_encoder(path)(texts, cfg.corpus.max_tokens)
    special = np.asarray(enc.special_tokens_mask, bool)
    lengths = enc.attention_mask.sum(1).numpy()
    return texts, enc, special, lengths


def word_maps(real_words, how: str) -> list[np.ndarray]:
    texts, enc, special, lengths = real_words
    return [
        aggregate(t, np.zeros(int(L), np.float32), enc.offsets[i, :L], special[i, :L], how).token_word
        for i, (t, L) in enumerate(zip(texts, lengths))
    ]


@pytest.mark.parametrize("how", ["sum", "mean"])
def test_the_floor_puts_first_a_word_whatever_its_token_count(real_words, how):
    texts, enc, special, lengths = real_words
    maps = word_maps(real_words, how)
    tokens_per_word = np.concatenate([np.bincount(m[m >= 0]) for m in maps])
    assert (tokens_per_word > 1).mean() > 0.15  # the real words do have several tokens: the test has power
    floor = RandomRanking(seed=1)
    check = first_rank_uniformity(maps, lambda i: floor.rank_words(int(maps[i].max()) + 1), draws=40)
    assert sum(check.observed) == 40 * len(texts)
    assert check.p > 0.01, check
    # the former floor: one N(0, 1) per token, then the words aggregate their tokens
    rng = np.random.default_rng(1)

    def token_draws(i: int) -> np.ndarray:
        L = int(lengths[i])
        return aggregate(
            texts[i], rng.standard_normal(L).astype(np.float32), enc.offsets[i, :L], special[i, :L], how
        ).relevance

    old = first_rank_uniformity(maps, token_draws, draws=40)
    assert old.p < 1e-6, old
    multi = np.array(old.observed[1:]).sum() / sum(old.observed)
    expected = np.array(old.expected[1:]).sum() / sum(old.expected)
    # sum: long words rank first too often; mean (N(0, 1/m)): too rarely
    assert (multi > expected) if how == "sum" else (multi < expected)


def test_the_crossed_interval_covers_the_true_mean():
    """X[s, t] = mu + text effect + seed effect + noise: the 95 % multi-bootstrap interval of the
    mean over seeds and texts covers mu near 95 % of the time; a texts-only interval (one seed's
    draw of the seed effect fixed) would not when seeds matter."""
    rng = np.random.default_rng(0)
    mu, S, T, n_sim = 0.1, 5, 60, 300
    hits = 0
    for _ in range(n_sim):
        X = mu + rng.normal(0, 0.05, T)[None, :] + rng.normal(0, 0.01, S)[:, None] + rng.normal(0, 0.03, (S, T))
        _, (lo, hi) = crossed_mean(X, 400, int(rng.integers(1 << 30)))
        hits += lo <= mu <= hi
    assert 0.90 <= hits / n_sim <= 0.99, hits / n_sim
    # paired: the difference of two rankings on the same texts and seeds is resampled the same way
    X = rng.normal(0.1, 0.05, (3, 80))
    m, ci = crossed_mean(X + 0.02, 400, 7)
    base, base_ci = crossed_mean(X, 400, 7)
    assert m - base == pytest.approx(0.02) and ci == pytest.approx(np.add(base_ci, 0.02))
