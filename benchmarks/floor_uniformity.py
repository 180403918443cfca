"""Is the random floor's first-ranked word independent of its token count, on a run's real words?

    PYTHONPATH=src python benchmarks/floor_uniformity.py RUN [--draws 20]

For the run's explained texts ([explain] texts of its split) and both aggregations (sum, mean):
the chi-square of first-ranked words by token count (1, 2, 3+) against a uniform draw
(explain.checks.first_rank_uniformity), for the floor faithfulness uses (uniform word
permutations, RandomRanking.rank_words) and for the former floor (N(0, 1) per token, then
aggregated into words). Prints one line per (aggregation, ranking).
"""

from __future__ import annotations

import argparse

import numpy as np

from stablex.explain.checks import first_rank_uniformity
from stablex.explain.methods import RandomRanking
from stablex.explain.stage import select_texts
from stablex.explain.words import aggregate
from stablex.models.classifier import load_encoder
from stablex.rundir import open_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args()
    run = open_run(args.run)
    cfg = run.config()
    texts = select_texts(run, cfg.explain).texts
    enc = load_encoder(run.path)(texts, cfg.corpus.max_tokens)
    special = np.asarray(enc.special_tokens_mask, bool)
    lengths = enc.attention_mask.sum(1).numpy()
    print(f"{len(texts)} texts of {args.run}, {args.draws} draws each")
    for how in ("sum", "mean"):
        maps = [
            aggregate(t, np.zeros(int(L), np.float32), enc.offsets[i, :L], special[i, :L], how).token_word
            for i, (t, L) in enumerate(zip(texts, lengths))
        ]
        floor, rng = RandomRanking(seed=1), np.random.default_rng(1)

        def former(i: int, rng=rng, how=how) -> np.ndarray:
            L = int(lengths[i])
            return aggregate(
                texts[i], rng.standard_normal(L).astype(np.float32), enc.offsets[i, :L], special[i, :L], how
            ).relevance

        for name, rank in (
            ("uniform word permutation", lambda i, floor=floor, maps=maps: floor.rank_words(int(maps[i].max()) + 1)),
            ("former: N(0,1) per token", former),
        ):
            c = first_rank_uniformity(maps, rank, draws=args.draws)
            first = np.array(c.observed) / sum(c.observed)
            exp = np.array(c.expected) / sum(c.expected)
            print(
                f"aggregate={how:4s} {name:26s} words by tokens {c.classes}: share of words "
                f"{np.round(c.share_of_words, 3).tolist()}, first-ranked {np.round(first, 3).tolist()} "
                f"(uniform: {np.round(exp, 3).tolist()}), chi2 = {c.chi2:.1f}, p = {c.p:.3g}"
            )


if __name__ == "__main__":
    main()
