"""Lexicons from training-split explanations, and how their words are found in any text.

Matching rule (docs/features.md, "Matching"): a text is cut into words by the very rule
that made the explanations' words (`explain.words.word_spans`: elided « l' » a word of its
own, hyphenated and apostrophe compounds whole, numbers whole, punctuation runs once), and
each word is put in the form `normalise_word` gives (NFKC, lower case, surrounding
punctuation and elided prefix removed). A lexicon word is thus found in a text exactly
when the transformer would have seen it there as a word. Matching spaCy's tokens one by
one instead would never find the compounds spaCy splits (« royaume-uni », « week-end »,
« a-t-il »; tests/test_features_hybrid.py shows it on real texts).

Word statistics are kept per explained document (sparse documents x words matrices), so
that a lexicon can be rebuilt from any subset of the training texts: the cross-validation
(features/selection.py) rebuilds one inside each fold from that fold's training texts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from stablex.errors import StablexError
from stablex.explain.words import WORD_RE
from stablex.features.lexicons import normalise_word
from stablex.stats.load import toward


@dataclass
class WordScores:
    """Mean relevance of each word toward each class, per seed (NaN: no occurrence counted)."""

    seeds: list[int]
    words: list[str]  # normalised forms
    classes: list[str]
    mean: np.ndarray  # S x W x K
    doc_freq: np.ndarray  # W: explained texts the word occurs in


@dataclass(frozen=True)
class LexiconEntry:
    source: str  # 'consensus' or 'seed-<s>'
    cls: str
    rank: int
    word: str
    score: float  # consensus (or single-seed) mean relevance toward cls
    sign_consistency: float
    doc_freq: int
    n_seeds: int


@dataclass(frozen=True)
class LexiconSettings:
    top_words: int  # words per class
    min_freq: int  # explained training texts a word must occur in
    min_sign_consistency: float  # share of seeds whose mean relevance has the consensus' sign


@dataclass
class ExplanationStats:
    """Per explained training text: relevance sums and counts of each word, per seed and class."""

    seeds: list[int]
    classes: list[str]
    words: list[str]  # the vocabulary: normalised forms of the explanations' words
    doc_ids: list[str]  # explained training texts (rows of the matrices)
    sums: list[list[sparse.csr_matrix]]  # [seed][class] D x W relevance toward the class
    counts: list[list[sparse.csr_matrix]]  # [seed][class] D x W occurrences counted
    present: sparse.csr_matrix  # D x W: 1 where the word occurs in the text

    def __deepcopy__(self, memo):  # read-only: scikit-learn's clone() need not copy it
        return self

    @classmethod
    def from_columns(cls, cols: dict[str, np.ndarray], classes: list[str]) -> "ExplanationStats":
        seeds, s_idx = np.unique(cols["seed"].astype(np.int64), return_inverse=True)
        raw, raw_idx = np.unique(cols["word"].astype(str), return_inverse=True)
        norm = np.array([normalise_word(w) for w in raw], dtype=object)
        words, w_of_raw = np.unique(norm.astype(str), return_inverse=True)
        w_idx = w_of_raw[raw_idx]
        keep = words[w_idx] != ""
        docs, d_idx = np.unique(cols["doc_id"].astype(str), return_inverse=True)
        target = cols["target"].astype(str)
        unknown = sorted(set(np.unique(target).tolist()) - set(classes))
        if unknown:
            raise StablexError(f"explanations: target(s) {unknown} are not classes {classes}")
        rel = cols["relevance"].astype(float)
        shape = (len(docs), len(words))

        def matrix(values, m):
            return sparse.coo_matrix((values[m], (d_idx[m], w_idx[m])), shape=shape).tocsr()

        sums, counts = [], []
        for s in range(len(seeds)):
            in_seed = keep & (s_idx == s)
            sums.append([]), counts.append([])
            for c in classes:
                if len(classes) == 2:  # relevance toward the other class is relevance against this one
                    r, m = toward(rel, target, c), in_seed
                else:
                    r, m = rel, in_seed & (target == c)
                sums[-1].append(matrix(r, m))
                counts[-1].append(matrix(np.ones(len(rel)), m))
        present = (matrix(np.ones(len(rel)), keep) > 0).astype(np.float64).tocsr()
        return cls(seeds.tolist(), list(classes), words.tolist(), docs.tolist(), sums, counts, present)

    def word_scores(self, docs: np.ndarray | None = None, seed: int | None = None) -> WordScores:
        """Word means over the texts `docs` (rows; None: all), over every seed or one."""
        rows = slice(None) if docs is None else np.asarray(docs, dtype=np.int64)
        seed_rows = range(len(self.seeds)) if seed is None else [self.seeds.index(seed)]
        S, W, K = len(seed_rows), len(self.words), len(self.classes)
        mean = np.full((S, W, K), np.nan)
        for i, s in enumerate(seed_rows):
            for k in range(K):
                total = np.asarray(self.sums[s][k][rows].sum(axis=0)).ravel()
                n = np.asarray(self.counts[s][k][rows].sum(axis=0)).ravel()
                mean[i, :, k] = np.divide(total, n, out=np.full(W, np.nan), where=n > 0)
        doc_freq = np.asarray(self.present[rows].sum(axis=0)).ravel().astype(np.int64)
        return WordScores([self.seeds[s] for s in seed_rows], self.words, self.classes, mean, doc_freq)


def build_lexicons(
    ws: WordScores, settings: LexiconSettings, source: str = "consensus"
) -> dict[str, list[LexiconEntry]]:
    """Per class: top words by mean relevance over the seeds of `ws`, filtered by sign consistency and frequency."""
    m = ws.mean
    n_seeds = np.sum(~np.isnan(m), axis=0)  # W x K
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # words a seed never saw: NaN, not a warning
        score = np.nanmean(m, axis=0)
        agree = np.nansum(np.sign(m) == np.sign(score)[None], axis=0)
        consistency = np.where(n_seeds > 0, agree / np.maximum(n_seeds, 1), 0)
    words = np.array(ws.words, dtype=object)
    out: dict[str, list[LexiconEntry]] = {}
    for k, c in enumerate(ws.classes):
        ok = (
            (n_seeds[:, k] > 0)
            & (score[:, k] > 0)
            & (ws.doc_freq >= settings.min_freq)
            & (consistency[:, k] >= settings.min_sign_consistency)
        )
        cand = np.flatnonzero(ok)
        cand = cand[np.lexsort((words[cand], -score[cand, k]))][: settings.top_words]
        out[c] = [
            LexiconEntry(
                source,
                c,
                r + 1,
                ws.words[w],
                float(score[w, k]),
                float(consistency[w, k]),
                int(ws.doc_freq[w]),
                int(n_seeds[w, k]),
            )
            for r, w in enumerate(cand)
        ]
    return out


# --- finding lexicon words in texts ------------------------------------------------------------


def text_words(text: str) -> list[str]:
    """The normalised words of a text, cut as the explanations cut them ('' forms dropped)."""
    return [w for m in WORD_RE.finditer(text) if (w := normalise_word(m.group()))]


@dataclass
class WordCounts:
    """Texts x vocabulary occurrence counts, and each text's number of words (the rate's base)."""

    counts: sparse.csr_matrix
    n_words: np.ndarray

    def __deepcopy__(self, memo):  # read-only, see ExplanationStats
        return self

    def rows(self, rows: np.ndarray) -> "WordCounts":
        return WordCounts(self.counts[rows], self.n_words[rows])


def count_words(texts: list[str], vocabulary: list[str]) -> WordCounts:
    """Occurrences of each vocabulary word in each text, by the matching rule above."""
    index = {w: j for j, w in enumerate(vocabulary)}
    indptr, ids, n_words = [0], [], np.zeros(len(texts))
    for i, text in enumerate(texts):
        words = text_words(text)
        n_words[i] = len(words)
        ids.extend(j for w in words if (j := index.get(w)) is not None)
        indptr.append(len(ids))
    data = np.ones(len(ids))
    m = sparse.csr_matrix(
        (data, np.asarray(ids, dtype=np.int64), np.asarray(indptr)), shape=(len(texts), len(vocabulary))
    )
    m.sum_duplicates()
    return WordCounts(m, n_words)


def match_rate(entries: list[LexiconEntry], vocabulary: list[str], counts: WordCounts) -> dict:
    """Share of distinct lexicon words occurring at least once in the counted texts."""
    index = {w: j for j, w in enumerate(vocabulary)}
    words = sorted({e.word for e in entries})
    seen = np.asarray((counts.counts > 0).sum(axis=0)).ravel()
    unmatched = [w for w in words if seen[index[w]] == 0]
    return {
        "entries": len(words),
        "matched": len(words) - len(unmatched),
        "rate": (len(words) - len(unmatched)) / len(words) if words else None,
        "unmatched": unmatched[:50],
    }
