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
from typing import Callable

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LEMMA, LENGTH, LIKE_NUM, MORPH, POS, SENT_START

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.lexicons import load_word_list, normalise_word, polarity_lexicons

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class DocView:
    """What features read from a spaCy Doc, computed once per text (spaces dropped)."""

    text: list[str]  # token text as written
    norm: list[str]  # normalise_word(text)
    lemma: list[str]
    pos: list[str]
    rel: list[bool]  # morphologizer says PronType=Rel
    like_num: list[bool]
    sent: list[int]  # sentence number
    idx: list[int]  # character offset of the token
    letters: list[int]  # alphabetic characters (0 for punctuation, digits)
    punct: list[bool]  # no letter or digit at all (punctuation, symbols)

    @property
    def n(self) -> int:
        return len(self.text)

    @classmethod
    def from_doc(cls, doc) -> "DocView":
        # one to_array call instead of per-token attribute access: most of the cost otherwise
        arr = doc.to_array([IDX, LENGTH, POS, SENT_START, LIKE_NUM, IS_SPACE, LEMMA, MORPH])
        arr = arr[arr[:, 5] == 0] if len(arr) else arr.reshape(0, 8)
        strings, full = doc.vocab.strings, doc.text
        idx = arr[:, 0].tolist()
        text = [full[a:a + n] for a, n in zip(idx, arr[:, 1].tolist())]
        sent_start = arr[:, 3].astype(np.int64) == 1
        if len(sent_start):
            sent_start[0] = True
        sent = (np.cumsum(sent_start) - 1).tolist() if doc.has_annotation("SENT_START") else [0] * len(text)
        return cls(
            text=text,
            norm=[normalise_word(x) for x in text],
            lemma=[normalise_word(strings[h]) for h in arr[:, 6].tolist()],
            pos=[_pos_name(strings, h) for h in arr[:, 2].tolist()],
            rel=[_is_rel(strings, h) for h in arr[:, 7].tolist()],
            like_num=arr[:, 4].astype(bool).tolist(),
            sent=sent,
            idx=idx,
            letters=[sum(ch.isalpha() for ch in x) for x in text],
            punct=[not any(ch.isalnum() for ch in x) for x in text],
        )


_POS_NAMES: dict[int, str] = {}
_REL: dict[int, bool] = {}


def _pos_name(strings, h: int) -> str:
    name = _POS_NAMES.get(h)
    if name is None:
        name = _POS_NAMES[h] = strings[h] if h else ""
    return name


def _is_rel(strings, h: int) -> bool:
    rel = _REL.get(h)
    if rel is None:
        rel = _REL[h] = bool(h) and "PronType=Rel" in strings[h]
    return rel


WeightFn = Callable[[DocView], np.ndarray]


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

    def add(self, feature: Feature, version: str = "1") -> None:
        """Register a feature; `version` must change when its definition does (cache key)."""
        if not _NAME.match(feature.name) or feature.name == "doc_id":
            raise StablexError(f"feature name {feature.name!r}: use lower-case letters, digits and _")
        if feature.name in self.names:
            raise StablexError(f"feature {feature.name!r} is defined twice")
        self.features.append(feature)
        self.signature_parts.append(f"{feature.name}:{version}")

    def add_word_list(self, name: str, words: frozenset[str] | set[str], description: str, why: str) -> None:
        """A count feature: tokens whose normalised form is in `words`, per 100 tokens."""
        normalised = frozenset(normalise_word(w) for w in words)
        self.add(Feature(name, description, why, count_in(normalised)), version=_digest(sorted(normalised)))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def values(self, view: DocView) -> np.ndarray:
        return np.array([float(f.weights(view).sum()) if view.n else 0.0 for f in self.features])

    def token_weights(self, view: DocView) -> np.ndarray:
        """Tokens x features: each token's share of each feature value."""
        if not view.n:
            return np.zeros((0, len(self.features)))
        return np.stack([f.weights(view) for f in self.features], axis=1)


def _digest(parts: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


# --- building blocks ----------------------------------------------------------------------

def per100(view: DocView, hits: list[float] | np.ndarray) -> np.ndarray:
    return np.asarray(hits, dtype=float) * (100.0 / view.n)


def count_in(words: frozenset[str]) -> WeightFn:
    def weights(view: DocView) -> np.ndarray:
        return per100(view, [w in words for w in view.norm])
    return weights


def count_lexicon(words: frozenset[str]) -> WeightFn:
    """Form in the list, or (for inflected verbs and nouns) its lemma."""
    def weights(view: DocView) -> np.ndarray:
        return per100(view, [w in words or (l in words and p != "ADJ") for w, l, p in
                             zip(view.norm, view.lemma, view.pos)])
    return weights


def count_char(chars: str) -> WeightFn:
    """Occurrences of any of `chars` in punctuation tokens (not in URLs or times)."""
    def weights(view: DocView) -> np.ndarray:
        return per100(view, [sum(x.count(c) for c in chars) if p else 0 for x, p in zip(view.text, view.punct)])
    return weights


# --- the study's features -----------------------------------------------------------------

FIRST_PERSON = frozenset({"je", "j'", "me", "m'", "moi", "nous", "moi-même", "nous-mêmes"})
RELATIVE_UNAMBIGUOUS = frozenset({"dont", "lequel", "laquelle", "lesquels", "lesquelles", "auquel", "auxquels",
                                  "auxquelles", "duquel", "desquels", "desquelles"})
RELATIVE_AMBIGUOUS = frozenset({"qui", "que", "qu'", "quoi", "où"})
NEGATION_HEAD = frozenset({"ne", "n'"})
NEGATION_CLOSERS = frozenset({"pas", "point", "jamais", "rien", "personne", "plus", "aucun", "aucune", "nullement",
                              "guère", "ni", "nul", "nulle"})
NEGATION_ALONE = frozenset({"pas", "jamais", "rien", "aucun", "aucune", "nullement", "guère"})
QUOTES = "«»\"“”„‹›"
_ELLIPSIS = re.compile(r"\.{3,}|…")
_THOUSANDS = re.compile(r"^\d{3}$")


def _avg_word_length(view: DocView) -> np.ndarray:
    n_words = sum(1 for k in view.letters if k)
    return np.array([k / n_words if n_words else 0.0 for k in view.letters])


def _cttr(view: DocView) -> np.ndarray:
    words = [w for w, k in zip(view.norm, view.letters) if k]
    if not words:
        return np.zeros(view.n)
    freq = Counter(words)
    scale = 1.0 / math.sqrt(2 * len(words))
    return np.array([scale / freq[w] if k else 0.0 for w, k in zip(view.norm, view.letters)])


def _relative(view: DocView) -> np.ndarray:
    return per100(view, [w in RELATIVE_UNAMBIGUOUS or (w in RELATIVE_AMBIGUOUS and r)
                         for w, r in zip(view.norm, view.rel)])


def _negations(view: DocView) -> np.ndarray:
    """'ne'/'n'' opens a negation that its closer ('pas', 'jamais'...) shares (half each);
    a closer without any 'ne' before it in its sentence is a negation of its own ('c'est pas')."""
    hits = np.zeros(view.n)
    open_ne: list[int] = []
    seen_ne_in = -1  # sentence in which a 'ne' was seen
    sent = -1
    for i, w in enumerate(view.norm):
        if view.sent[i] != sent:
            sent, open_ne = view.sent[i], []
        if w in NEGATION_HEAD:
            hits[i] = 1.0
            open_ne.append(i)
            seen_ne_in = sent
        elif w in NEGATION_CLOSERS:
            if open_ne:
                j = open_ne.pop()
                hits[j], hits[i] = 0.5, 0.5
            elif seen_ne_in != sent and w in NEGATION_ALONE:
                hits[i] = 1.0
    return per100(view, hits)


def _numbers(view: DocView) -> np.ndarray:
    """Digits or number words; '12 000' is one number, '[NUM]' (placeholder) is one."""
    hits = []
    for i, x in enumerate(view.text):
        # number words only when tagged NUM: spaCy's like_num also says yes to the article « un/une »
        is_num = (any(ch.isdigit() for ch in x) or (view.like_num[i] and view.pos[i] == "NUM")
                  or (x == "NUM" and i > 0 and view.text[i - 1] == "["))
        if is_num and i and _THOUSANDS.match(x) and view.text[i - 1][-1:].isdigit():
            is_num = False  # a thousands group continues the previous number
        hits.append(is_num)
    return per100(view, hits)


def _pos(tag: str) -> WeightFn:
    return lambda view: per100(view, [p == tag for p in view.pos])


def _ellipsis(view: DocView) -> np.ndarray:
    return per100(view, [len(_ELLIPSIS.findall(x)) if p else 0 for x, p in zip(view.text, view.punct)])


def _long_words(view: DocView) -> np.ndarray:
    return per100(view, [k > 8 for k in view.letters])


def default_feature_set(config: FeaturesConfig | None = None) -> FeatureSet:
    """The study's 18 features plus subjective words, then the study's own additions."""
    config = config or FeaturesConfig()
    lex = polarity_lexicons(config.polarity_threshold, config.subjectivity_threshold)
    fs = FeatureSet(signature_parts=[f"polarity>={config.polarity_threshold}",
                                     f"subjectivity>={config.subjectivity_threshold}"])
    pt, st = config.polarity_threshold, config.subjectivity_threshold
    table: list[tuple[str, WeightFn, str, str, str]] = [  # name, weights, version, counts, why
        ("avg_word_length", _avg_word_length, "2", "mean letters per word (words = tokens with a letter)",
         "argument uses abstract, derived vocabulary; reports use short concrete words"),
        ("cttr", _cttr, "2", "corrected type-token ratio: distinct words / sqrt(2 x words), lower-cased",
         "varied vocabulary marks crafted, argued prose"),
        ("first_person", count_in(FIRST_PERSON), "1", "je, j', me, m', moi, nous per 100 tokens",
         "the author speaking for themselves signals a point of view"),
        ("pronoun_on", count_in(frozenset({"on"})), "1", "the pronoun « on » per 100 tokens",
         "generic « on » voices general claims and the author's stance"),
        ("relative_pronouns", _relative, "1", "dont, lequel...; qui/que/où when tagged relative (PronType=Rel)",
         "embedded clauses build longer, reasoned sentences"),
        ("negations", _negations, "1", "« ne/n' ... pas/jamais/rien/plus... » once; a bare « pas/jamais/rien » once",
         "denial and refutation are moves of argument"),
        ("numbers", _numbers, "1", "digits or number words per 100 tokens (« 12 000 » once)",
         "figures mark factual reporting (news)"),
        ("verbs", _pos("VERB"), "1", "tokens tagged VERB (auxiliaries excluded) per 100 tokens",
         "verbal, narrative style"),
        ("adjectives", _pos("ADJ"), "1", "tokens tagged ADJ per 100 tokens", "qualifying is evaluating"),
        ("question_marks", count_char("?"), "1", "« ? » per 100 tokens", "rhetorical questions address the reader"),
        ("exclamation_marks", count_char("!"), "1", "« ! » per 100 tokens", "exclamation expresses emotion"),
        ("semicolons", count_char(";"), "1", "« ; » per 100 tokens", "long, articulated sentences of essays"),
        ("colons", count_char(":"), "1", "« : » per 100 tokens", "announcing an explanation or a quote"),
        ("ellipses", _ellipsis, "1", "« ... » or « … » per 100 tokens", "suspension, irony, implied meaning"),
        ("positive_words", count_lexicon(lex.positive), "1", f"textblob-fr words with polarity >= {pt}",
         "evaluative language, positive"),
        ("negative_words", count_lexicon(lex.negative), "1", f"textblob-fr words with polarity <= -{pt}",
         "evaluative language, negative"),
        ("quotation_marks", count_char(QUOTES), "1", "« » \" “ ” „ ‹ › marks per 100 tokens (a pair counts 2)",
         "quoting others (news) or ironic distance (opinion)"),
        ("long_words", _long_words, "2", "words with more than 8 letters per 100 tokens",
         "abstract nominalisations of argued prose"),
        ("subjective_words", count_lexicon(lex.subjective), "1", f"textblob-fr words with subjectivity >= {st}",
         "subjective vocabulary marks opinion directly"),
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
            raise StablexError(f"[features] plugins: module {module!r} defines no stablex_features(feature_set, config)") from None
        hook(fs, config)
        fs.signature_parts.append(f"plugin:{module}")
    return fs
