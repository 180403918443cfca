"""Cost of the hybrid's lexicon features on held-out texts, against spaCy feature extraction.

Lexicon features are a regex pass (the explanations' word rule) and a sparse product; the
feature model's own features need spaCy. Both are timed on the same Le Monde texts (the
vocabulary is every explanation-style word of other texts, so each word is looked up as in
the stage; texts are built by `data.corpus.load_corpus`, as the held-out pool's). Prints
seconds, texts per second and the ratio lexicon / spaCy per text. Usage:
    python benchmarks/bench_hybrid.py [--n 5000] [--spacy-n 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from stablex.config import CorpusConfig
from stablex.data.corpus import load_corpus
from stablex.features.definitions import default_feature_set
from stablex.features.extract import compute_features, load_nlp
from stablex.features.matching import count_words, text_words

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--spacy-n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    texts = load_corpus(CorpusConfig(path=args.corpus)).texts  # title + summary, built as the pool's texts
    vocab_texts, pool = texts[:800], texts[800 : 800 + args.n]
    vocabulary = sorted({w for x in vocab_texts for w in text_words(x)})
    load_nlp()
    fs = default_feature_set()
    lex, spacy = [], []
    for _ in range(args.repeat):  # alternate so that load changes on a shared machine hit both
        t0 = time.perf_counter()
        counts = count_words(pool, vocabulary)
        lex.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        compute_features(pool[: args.spacy_n], fs)
        spacy.append(time.perf_counter() - t0)
    best_lex, best_spacy = min(lex), min(spacy)
    per_lex, per_spacy = best_lex / len(pool), best_spacy / args.spacy_n
    print(f"vocabulary {len(vocabulary)} words; {int(counts.counts.sum())} matches in {len(pool)} texts")
    print(f"lexicon counts: {best_lex:.2f} s for {len(pool)} texts ({len(pool) / best_lex:.0f} texts/s)")
    print(
        f"spaCy features: {best_spacy:.2f} s for {args.spacy_n} texts ({args.spacy_n / best_spacy:.0f} texts/s); "
        f"{per_spacy * len(pool):.1f} s extrapolated to {len(pool)}"
    )
    print(
        f"ratio lexicon / spaCy per text: {per_lex / per_spacy:.3f}  (all runs: lexicon "
        f"{np.round(lex, 2).tolist()} s, spaCy {np.round(spacy, 2).tolist()} s)"
    )


if __name__ == "__main__":
    main()
