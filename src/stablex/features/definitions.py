"""The feature registry: each feature defined once, as per-token weights.

A feature is a function from a parsed text to one weight per token; the feature's value
is the sum of the weights. Counts give each triggering token 100 / N (N = tokens of the
text, spaces excluded), so the value is "per 100 tokens"; the two ratios (average word
length, corrected type-token ratio) split their value over the words that make it. The
same weights give the feature model's word map (each word's share of each feature), so
a feature's definition and its explanation cannot drift apart.

Extension point: build the default set with `default_feature_set(config)` and `add` a
`Feature`, or `add_word_list(...)`; a study names modules in `[features] plugins`, each
defining `stablex_features(feature_set, config)`, and word lists in
`[features] word_lists` (feature name -> file, one word per line).
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress
from operator import itemgetter
from typing import Callable, NamedTuple

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LEMMA, LIKE_NUM, MORPH, ORTH, POS, SENT_START

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.lexicons import load_word_list, normalise_word, polarity_lexicons

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Word(NamedTuple):
    """One token out of context: what a TokenCount reads."""

    text: str  # as written
    norm: str  # normalise_word(text)
    lemma: str  # normalise_word(lemma)
    pos: str
    rel: bool  # morphologizer says PronType=Rel
    letters: int  # alphabetic characters (0 for punctuation, digits)
    punct: bool  # no letter or digit at all (punctuation, symbols)
    digit: bool  # at least one digit


class _WordTable:
    """Memo: spaCy hashes (orth, lemma, pos, morph) -> Word, each distinct token built once.

    spaCy's hashes are content-derived, so one table serves every pipeline; it grows with
    the distinct tokens seen, not with the corpus. `words[i]` is never rewritten, so other
    memos may be indexed by word id (see _TokenRows).
    """

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.words: list[Word] = []

    def ids(self, strings, hashes: np.ndarray) -> list[int]:
        """Word ids of rows of (orth, lemma, pos, morph) hashes."""
        # each row as one bytes key ('S32' drops trailing NULs, which keeps keys distinct):
        # a quarter of the cost of hashing tuples of four ints
        keys = np.ascontiguousarray(hashes, dtype=np.uint64).view("S32").ravel().tolist()
        index = self.index
        ids = [index.get(k, -1) for k in keys]
        if -1 in ids:
            for i, k in enumerate(keys):
                if ids[i] == -1:
                    if k not in index:
                        index[k] = len(self.words)
                        row = hashes[i].tolist()
                        self.words.append(_word(*(strings[h] if h else "" for h in row)))
                    ids[i] = index[k]
        return ids


def _word(text: str, lemma: str, pos: str, morph: str) -> Word:
    return Word(
        text,
        normalise_word(text),
        normalise_word(lemma),
        pos,
        "PronType=Rel" in morph,
        sum(ch.isalpha() for ch in text),
        _is_punct(text),
        any(ch.isdigit() for ch in text),
    )


def _is_punct(x: str) -> bool:
    return not any(ch.isalnum() for ch in x)


_WORDS = _WordTable()


def _column(name: str) -> cached_property:
    get = itemgetter(Word._fields.index(name))
    return cached_property(lambda view: list(map(get, view.words)))


@dataclass
class DocView:
    """What features read from a spaCy Doc, computed once per text (spaces dropped).

    Per-token lists (`text`, `norm`, `lemma`, `pos`, `rel`, `letters`, `punct`, `digit`,
    `like_num`, `sent`, `idx`) are built on first use: a feature pays only for what it reads.
    """

    words: list[Word]
    _attrs: np.ndarray  # idx, sent start, like_num per token
    word_ids: np.ndarray | None = None  # rows of this process's word table (None: not from it)

    def __getstate__(self) -> dict:
        # word ids index this process's table: another process evaluates the Words themselves
        return {**self.__dict__, "word_ids": None}

    text = _column("text")  # as written
    norm = _column("norm")  # normalise_word(text)
    lemma = _column("lemma")
    pos = _column("pos")
    rel = _column("rel")  # morphologizer says PronType=Rel
    letters = _column("letters")  # alphabetic characters (0 for punctuation, digits)
    punct = _column("punct")  # no letter or digit at all (punctuation, symbols)
    digit = _column("digit")  # at least one digit

    @cached_property
    def idx(self) -> list[int]:
        """Character offset of each token."""
        return self._attrs[:, 0].tolist()

    @cached_property
    def sent(self) -> list[int]:
        """Sentence number of each token (one sentence when spaCy set no boundaries)."""
        start = self._attrs[:, 1] == 1
        if len(start):
            start[0] = True
        return (np.cumsum(start) - 1).tolist()

    @cached_property
    def like_num(self) -> list[bool]:
        return self._attrs[:, 2].astype(bool).tolist()

    @property
    def n(self) -> int:
        return len(self.words)

    @classmethod
    def from_doc(cls, doc) -> "DocView":
        # one to_array call and a memo of tokens instead of per-token attribute access: the
        # feature pass must stay a small fraction of spaCy's own time (bench_features.py)
        arr = doc.to_array([ORTH, LEMMA, POS, MORPH, IDX, SENT_START, LIKE_NUM, IS_SPACE])
        arr = arr[arr[:, 7] == 0] if len(arr) else arr.reshape(0, 8)
        ids = _WORDS.ids(doc.vocab.strings, arr[:, :4])
        words = _WORDS.words
        return cls([words[i] for i in ids], arr[:, 4:7], np.array(ids, dtype=np.int64))


WeightFn = Callable[[DocView], np.ndarray]


@dataclass(frozen=True)
class TokenCount:
    """Weights that depend on one token alone: `count(word)` per token, per 100 tokens.

    A FeatureSet evaluates all its TokenCount features together, once per distinct token
    (text, lemma, tag), so that word lists, lexicons, tags and punctuation counts cost
    one array lookup per token in all (bench_features.py).
    """

    count: Callable[[Word], float]

    def __call__(self, view: DocView) -> np.ndarray:
        return per100(view, [self.count(w) for w in view.words])


@dataclass(frozen=True)
class Feature:
    name: str  # column name in features.parquet
    description: str  # what it counts (one line)
    why: str  # why it marks opinion (one line)
    weights: WeightFn  # one weight per token; the feature value is their sum


@dataclass
class FeatureSet:
    features: list[Feature] = field(default_factory=list)
    signature_parts: list[str] = field(default_factory=list)  # what the cache depends on
    _token_rows: "_TokenRows | None" = field(default=None, init=False, repr=False, compare=False)

    def add(self, feature: Feature, version: str = "1") -> None:
        """Register a feature; `version` must change when its definition does (cache key)."""
        if not _NAME.match(feature.name) or feature.name == "doc_id":
            raise StablexError(f"feature name {feature.name!r}: use lower-case letters, digits and _")
        if feature.name in self.names:
            raise StablexError(f"feature {feature.name!r} is defined twice")
        self.features.append(feature)
        self.signature_parts.append(f"{feature.name}:{version}")
        self._token_rows = None  # the TokenCount memo depends on the features

    def add_word_list(self, name: str, words: frozenset[str] | set[str], description: str, why: str) -> None:
        """A count feature: tokens whose normalised form is in `words`, per 100 tokens."""
        normalised = frozenset(normalise_word(w) for w in words)
        self.add(Feature(name, description, why, count_in(normalised)), version=_digest(sorted(normalised)))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def values(self, view: DocView) -> np.ndarray:
        out = np.zeros(len(self.features))
        if not view.n:
            return out
        if self._token_rows is None:
            self._token_rows = _TokenRows([f.weights for f in self.features])
        rows = self._token_rows
        if rows.columns:
            out[rows.columns] = rows.counts(view).sum(axis=0) * (100.0 / view.n)
        for j in rows.others:
            out[j] = float(self.features[j].weights(view).sum())
        return out

    def token_weights(self, view: DocView) -> np.ndarray:
        """Tokens x features: each token's share of each feature value."""
        if not view.n:
            return np.zeros((0, len(self.features)))
        return np.stack([f.weights(view) for f in self.features], axis=1)


class _TokenRows:
    """Memo: row i = the TokenCount features' counts of Word i of the word table."""

    def __init__(self, weights: list[WeightFn]) -> None:
        self.columns = [j for j, w in enumerate(weights) if isinstance(w, TokenCount)]
        self.others = [j for j, w in enumerate(weights) if not isinstance(w, TokenCount)]
        self._counts = [weights[j].count for j in self.columns]
        self._matrix = np.zeros((0, len(self.columns)))
        self._filled = 0

    def counts(self, view: DocView) -> np.ndarray:
        if view.word_ids is None:
            return np.array([[c(w) for c in self._counts] for w in view.words], dtype=float).reshape(view.n, -1)
        words = _WORDS.words
        if self._filled < len(words):
            if len(words) > len(self._matrix):
                grown = np.zeros((max(1024, 2 * len(words)), len(self.columns)))
                grown[: self._filled] = self._matrix[: self._filled]
                self._matrix = grown
            for i in range(self._filled, len(words)):
                self._matrix[i] = [c(words[i]) for c in self._counts]
            self._filled = len(words)
        return self._matrix[view.word_ids]


def _digest(parts: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


# --- building blocks ----------------------------------------------------------------------


def per100(view: DocView, hits: list[float] | np.ndarray) -> np.ndarray:
    return np.asarray(hits, dtype=float) * (100.0 / view.n)


def count_in(words: frozenset[str]) -> TokenCount:
    return TokenCount(lambda w: w.norm in words)


def count_lexicon(words: frozenset[str]) -> TokenCount:
    """Form in the list, or (for inflected verbs and nouns) its lemma."""
    return TokenCount(lambda w: w.norm in words or (w.lemma in words and w.pos != "ADJ"))


def count_char(chars: str) -> TokenCount:
    """Occurrences of any of `chars` in punctuation tokens (not in URLs or times)."""
    return TokenCount(lambda w: sum(w.text.count(c) for c in chars) if w.punct else 0)


# --- the study's features -----------------------------------------------------------------

FIRST_PERSON = frozenset({"je", "j'", "me", "m'", "moi", "nous", "moi-même", "nous-mêmes"})
RELATIVE_UNAMBIGUOUS = frozenset(
    {
        "dont",
        "lequel",
        "laquelle",
        "lesquels",
        "lesquelles",
        "auquel",
        "auxquels",
        "auxquelles",
        "duquel",
        "desquels",
        "desquelles",
    }
)
RELATIVE_AMBIGUOUS = frozenset({"qui", "que", "qu'", "quoi", "où"})
NEGATION_HEAD = frozenset({"ne", "n'"})
NEGATION_CLOSERS = frozenset(
    {
        "pas",
        "point",
        "jamais",
        "rien",
        "personne",
        "plus",
        "aucun",
        "aucune",
        "nullement",
        "guère",
        "ni",
        "nul",
        "nulle",
    }
)
NEGATION_ALONE = frozenset({"pas", "jamais", "rien", "aucun", "aucune", "nullement", "guère"})
QUOTES = '«»"“”„‹›'
_ELLIPSIS = re.compile(r"\.{3,}|…")
_THOUSANDS = re.compile(r"^\d{3}$")


def _avg_word_length(view: DocView) -> np.ndarray:
    letters = np.array(view.letters, dtype=float)
    n_words = np.count_nonzero(letters)
    return letters / n_words if n_words else letters


def _cttr(view: DocView) -> np.ndarray:
    has_letters = np.array(view.letters) > 0
    words = list(compress(view.norm, has_letters))
    weights = np.zeros(view.n)
    if words:
        freq = Counter(words)
        weights[has_letters] = 1.0 / (math.sqrt(2 * len(words)) * np.array(list(map(freq.__getitem__, words))))
    return weights


_relative = TokenCount(lambda w: w.norm in RELATIVE_UNAMBIGUOUS or (w.norm in RELATIVE_AMBIGUOUS and w.rel))


def _negations(view: DocView) -> np.ndarray:
    """'ne'/'n'' opens a negation that its closer ('pas', 'jamais'...) shares (half each);
    a closer without any 'ne' before it in its sentence is a negation of its own ('c'est pas')."""
    hits = np.zeros(view.n)
    norm = view.norm
    candidates = [i for i, w in enumerate(norm) if w in NEGATION_HEAD or w in NEGATION_CLOSERS]
    if not candidates:
        return hits
    open_ne: list[int] = []
    seen_ne_in = -1  # sentence in which a 'ne' was seen
    sent = -1
    for i in candidates:
        w = norm[i]
        if view.sent[i] != sent:
            sent, open_ne = view.sent[i], []
        if w in NEGATION_HEAD:
            hits[i] = 1.0
            open_ne.append(i)
            seen_ne_in = sent
        elif open_ne:
            j = open_ne.pop()
            hits[j], hits[i] = 0.5, 0.5
        elif seen_ne_in != sent and w in NEGATION_ALONE:
            hits[i] = 1.0
    return per100(view, hits)


def _numbers(view: DocView) -> np.ndarray:
    """Digits or number words; '12 000' is one number, '[NUM]' (placeholder) is one."""
    hits = np.zeros(view.n)
    text, digit, like_num = view.text, view.digit, view.like_num
    for i in [i for i, w in enumerate(view.words) if w.digit or w.text == "NUM" or like_num[i]]:
        x, prev = text[i], text[i - 1] if i else ""
        # number words only when tagged NUM: spaCy's like_num also says yes to the article « un/une »
        is_num = digit[i] or (like_num[i] and view.pos[i] == "NUM") or (x == "NUM" and prev == "[")
        if digit[i] and prev[-1:].isdigit() and _THOUSANDS.match(x):
            is_num = False  # a thousands group continues the previous number
        hits[i] = is_num
    return per100(view, hits)


def _pos(tag: str) -> TokenCount:
    return TokenCount(lambda w: w.pos == tag)


_ellipsis = TokenCount(lambda w: len(_ELLIPSIS.findall(w.text)) if w.punct else 0)
_long_words = TokenCount(lambda w: w.letters > 8)


def default_feature_set(config: FeaturesConfig | None = None) -> FeatureSet:
    """The study's 18 features plus subjective words, then the study's own additions."""
    config = config or FeaturesConfig()
    lex = polarity_lexicons(config.polarity_threshold, config.subjectivity_threshold)
    fs = FeatureSet(
        signature_parts=[f"polarity>={config.polarity_threshold}", f"subjectivity>={config.subjectivity_threshold}"]
    )
    pt, st = config.polarity_threshold, config.subjectivity_threshold
    table: list[tuple[str, WeightFn, str, str, str]] = [  # name, weights, version, counts, why
        (
            "avg_word_length",
            _avg_word_length,
            "2",
            "mean letters per word (words = tokens with a letter)",
            "argument uses abstract, derived vocabulary; reports use short concrete words",
        ),
        (
            "cttr",
            _cttr,
            "2",
            "corrected type-token ratio: distinct words / sqrt(2 x words), lower-cased",
            "varied vocabulary marks crafted, argued prose",
        ),
        (
            "first_person",
            count_in(FIRST_PERSON),
            "1",
            "je, j', me, m', moi, nous per 100 tokens",
            "the author speaking for themselves signals a point of view",
        ),
        (
            "pronoun_on",
            count_in(frozenset({"on"})),
            "1",
            "the pronoun « on » per 100 tokens",
            "generic « on » voices general claims and the author's stance",
        ),
        (
            "relative_pronouns",
            _relative,
            "1",
            "dont, lequel...; qui/que/où when tagged relative (PronType=Rel)",
            "embedded clauses build longer, reasoned sentences",
        ),
        (
            "negations",
            _negations,
            "1",
            "« ne/n' ... pas/jamais/rien/plus... » once; a bare « pas/jamais/rien » once",
            "denial and refutation are moves of argument",
        ),
        (
            "numbers",
            _numbers,
            "1",
            "digits or number words per 100 tokens (« 12 000 » once)",
            "figures mark factual reporting (news)",
        ),
        (
            "verbs",
            _pos("VERB"),
            "1",
            "tokens tagged VERB (auxiliaries excluded) per 100 tokens",
            "verbal, narrative style",
        ),
        ("adjectives", _pos("ADJ"), "1", "tokens tagged ADJ per 100 tokens", "qualifying is evaluating"),
        ("question_marks", count_char("?"), "1", "« ? » per 100 tokens", "rhetorical questions address the reader"),
        ("exclamation_marks", count_char("!"), "1", "« ! » per 100 tokens", "exclamation expresses emotion"),
        ("semicolons", count_char(";"), "1", "« ; » per 100 tokens", "long, articulated sentences of essays"),
        ("colons", count_char(":"), "1", "« : » per 100 tokens", "announcing an explanation or a quote"),
        ("ellipses", _ellipsis, "1", "« ... » or « … » per 100 tokens", "suspension, irony, implied meaning"),
        (
            "positive_words",
            count_lexicon(lex.positive),
            "1",
            f"textblob-fr words with polarity >= {pt}",
            "evaluative language, positive",
        ),
        (
            "negative_words",
            count_lexicon(lex.negative),
            "1",
            f"textblob-fr words with polarity <= -{pt}",
            "evaluative language, negative",
        ),
        (
            "quotation_marks",
            count_char(QUOTES),
            "1",
            '« » " “ ” „ ‹ › marks per 100 tokens (a pair counts 2)',
            "quoting others (news) or ironic distance (opinion)",
        ),
        (
            "long_words",
            _long_words,
            "2",
            "words with more than 8 letters per 100 tokens",
            "abstract nominalisations of argued prose",
        ),
        (
            "subjective_words",
            count_lexicon(lex.subjective),
            "1",
            f"textblob-fr words with subjectivity >= {st}",
            "subjective vocabulary marks opinion directly",
        ),
    ]
    for name, weights, version, description, why in table:
        fs.add(Feature(name, description, why, weights), version)
    for name, path in sorted(config.word_lists.items()):
        fs.add_word_list(name, load_word_list(path), f"words of {path} per 100 tokens", "user word list")
    for module in config.plugins:
        try:
            hook = importlib.import_module(module).stablex_features
        except ModuleNotFoundError:
            raise StablexError(f"[features] plugins: module {module!r} not found") from None
        except AttributeError:
            raise StablexError(
                f"[features] plugins: module {module!r} defines no stablex_features(feature_set, config)"
            ) from None
        hook(fs, config)
        fs.signature_parts.append(f"plugin:{module}")
    return fs
