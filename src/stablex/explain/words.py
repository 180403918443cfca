"""Sub-word relevances -> word relevances, each word with its character offsets in the text.

Words are defined on the text itself (not on the tokenizer), so every model and method of a
run shares them:

- an elided clitic followed by a letter is a word of its own, apostrophe included:
  « l'éditorialiste » -> « l' » + « éditorialiste »; also d' j' m' n' s' t' c' qu' jusqu'
  lorsqu' puisqu' quoiqu' (straight ' or typographic ’, any case);
- other apostrophes and hyphens inside a word keep it whole: « aujourd'hui »,
  « quelqu'un », « presqu'île », « peut-être »;
- a number is one word, decimal or thousands separators included: « 3,5 », « 1.000 »;
- any other non-space symbol is a word, a run of the same symbol once: « ... », « !! ».

This follows spaCy's French tokenizer on elisions and punctuation (the feature model's
words). A token goes to the words its characters overlap, in proportion to the characters
shared (almost always one word); a token of whitespace only (a lone SentencePiece '▁') goes
to the next word. Special and padding tokens are excluded. Words no token reached (after
truncation) are left out; `word_index` counts the words kept, in text order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from stablex.config_checks import AGGREGATIONS

WORD_RE = re.compile(
    r"""(?i:(?:jusqu|lorsqu|puisqu|quoiqu|qu|[cdjlmnst])['’])(?=\w)  # elided clitic
      | \d+(?:[.,]\d+)*(?!\w)                                      # number
      | \w+(?:[-'’]\w+)*                                            # word
      | ([^\w\s])\1*                                                # symbol (run)
    """,
    re.X,
)


def word_spans(text: str) -> np.ndarray:
    """[n, 2] int64 (start, end) character offsets of the words of `text`."""
    spans = [m.span() for m in WORD_RE.finditer(text)]
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


@dataclass
class Words:
    """The words of one text that the model saw, and their relevance."""

    start: np.ndarray  # [n] int32
    end: np.ndarray  # [n] int32
    relevance: np.ndarray  # [n] float32
    token_word: np.ndarray  # [T] int: the word each token mostly belongs to (-1: special/pad)

    def words(self, text: str) -> list[str]:
        return [text[a:b] for a, b in zip(self.start, self.end)]

    def __len__(self) -> int:
        return len(self.start)


def token_word_weights(spans: np.ndarray, offsets: np.ndarray, special: np.ndarray):
    """Sparse token->word weights: (token rows, word cols, weights) each token's weights sum to 1."""
    starts, ends = spans[:, 0], spans[:, 1]
    rows, cols, weights = [], [], []
    n = len(spans)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    for t in np.flatnonzero(~special):
        a, b = int(offsets[t, 0]), int(offsets[t, 1])
        i0 = int(np.searchsorted(ends, a, side="right"))  # first word ending after a
        i1 = int(np.searchsorted(starts, b, side="left")) - 1  # last word starting before b
        if i1 < i0:  # whitespace or empty: the next word (or the last one)
            rows.append(t), cols.append(min(i0, n - 1)), weights.append(1.0)
        elif i0 == i1:
            rows.append(t), cols.append(i0), weights.append(1.0)
        else:
            ov = np.minimum(ends[i0 : i1 + 1], b) - np.maximum(starts[i0 : i1 + 1], a)
            ov = np.maximum(ov, 0).astype(float)
            for j, w in zip(range(i0, i1 + 1), ov / ov.sum()):
                if w > 0:
                    rows.append(t), cols.append(j), weights.append(float(w))
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(weights)


def aggregate(text: str, relevance: np.ndarray, offsets: np.ndarray, special: np.ndarray, how: str = "sum") -> Words:
    """Word relevances of one text from its token relevances [T], offsets [T, 2], special mask [T].

    'sum' conserves relevance (the words' total is the non-special tokens' total); 'mean'
    averages a word's pieces (the study's choice)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {AGGREGATIONS}, not {how!r}")
    spans = word_spans(text)
    rows, cols, w = token_word_weights(spans, offsets, special)
    n = len(spans)
    total = np.bincount(cols, weights=w * relevance[rows], minlength=n)
    mass = np.bincount(cols, weights=w, minlength=n)
    keep = mass > 0
    rel = total if how == "sum" else np.divide(total, mass, out=np.zeros(n), where=keep)
    token_word = np.full(len(relevance), -1, np.int64)
    if len(rows):
        new_index = np.cumsum(keep) - 1
        order = np.lexsort((-w, rows))  # per token, its largest share first
        first = np.ones(len(order), bool)
        first[1:] = rows[order][1:] != rows[order][:-1]
        token_word[rows[order][first]] = new_index[cols[order][first]]
    return Words(
        spans[keep, 0].astype(np.int32), spans[keep, 1].astype(np.int32), rel[keep].astype(np.float32), token_word
    )
