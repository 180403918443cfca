"""Word lists: the textblob-fr sentiment lexicon (read directly) and user-supplied lists.

textblob-fr ships `fr-sentiment.xml` (Tom De Smedt, Walter Daelemans; licence PDDL), a
lexicon of ~5,100 French forms, mostly adjectives, each with a polarity in [-1, 1] and a
subjectivity in [0, 1]. We read the file itself rather than going through TextBlob: we
need word lists to count, not TextBlob's phrase-level scoring.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from stablex.errors import StablexError

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_EDGE = re.compile(r"^[^\w']+|[^\w']+$")
_ELIDED = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)'(?=\w)")


@lru_cache(maxsize=1 << 17)
def normalise_word(word: str) -> str:
    """The form words are compared in: NFKC, lower case, typographic apostrophes made ASCII.

    Words with letters or digits also lose surrounding punctuation (« -il » -> « il »,
    « (Paris) » -> « paris ») and an elided prefix (« L'Occident » -> « occident »), so that
    the words of the transformer's explanations, of word lists and of the texts meet on the
    same form; inner hyphens and apostrophes stay (« royaume-uni », « aujourd'hui »). Pure
    punctuation (« or ?) is kept as is. docs/features.md, "Matching".
    """
    w = unicodedata.normalize("NFKC", word).strip().lower().translate(_APOSTROPHES)
    if any(ch.isalnum() for ch in w):
        w = _EDGE.sub("", w)
        w = _ELIDED.sub("", w)
    return w


@dataclass(frozen=True)
class SentimentEntry:
    polarity: float
    subjectivity: float


def textblob_fr_path() -> Path:
    try:
        return Path(str(files("textblob_fr").joinpath("fr-sentiment.xml")))
    except ModuleNotFoundError:
        raise StablexError("package textblob-fr is not installed (pip install textblob-fr==0.2.0)") from None


@lru_cache(maxsize=4)
def load_sentiment_lexicon(path: str | None = None) -> dict[str, SentimentEntry]:
    """Form -> (polarity, subjectivity); a form listed twice gets the mean of its entries."""
    source = Path(path) if path else textblob_fr_path()
    try:
        root = ET.parse(source).getroot()
    except FileNotFoundError:
        raise StablexError(f"sentiment lexicon not found: {source}") from None
    except ET.ParseError as e:
        raise StablexError(f"{source}: not valid XML: {e}") from None
    sums: dict[str, list[float]] = {}
    for i, node in enumerate(root.iter("word"), start=1):
        form = node.get("form")
        try:
            pol, subj = float(node.get("polarity", "")), float(node.get("subjectivity", ""))
        except ValueError:
            raise StablexError(f"{source}: <word> #{i} ({form!r}) lacks a numeric polarity/subjectivity") from None
        if not form:
            continue
        acc = sums.setdefault(normalise_word(form), [0.0, 0.0, 0])
        acc[0] += pol
        acc[1] += subj
        acc[2] += 1
    if not sums:
        raise StablexError(f"{source}: no <word form=...> entries")
    return {w: SentimentEntry(p / n, s / n) for w, (p, s, n) in sums.items()}


@dataclass(frozen=True)
class PolarityLexicons:
    positive: frozenset[str]
    negative: frozenset[str]
    subjective: frozenset[str]


def polarity_lexicons(
    polarity_threshold: float = 0.1, subjectivity_threshold: float = 0.5, path: str | None = None
) -> PolarityLexicons:
    """Split the sentiment lexicon into the three word lists the features count.

    Positive: polarity >= threshold; negative: polarity <= -threshold; subjective:
    subjectivity >= its threshold (the file has some negative subjectivities; they never
    count).
    """
    if not 0 <= polarity_threshold <= 1 or not 0 <= subjectivity_threshold <= 1:
        raise StablexError("options polarity_threshold and subjectivity_threshold must lie in [0, 1]")
    lex = load_sentiment_lexicon(path)
    pos = frozenset(w for w, e in lex.items() if e.polarity >= polarity_threshold and e.polarity > 0)
    neg = frozenset(w for w, e in lex.items() if e.polarity <= -polarity_threshold and e.polarity < 0)
    subj = frozenset(w for w, e in lex.items() if e.subjectivity >= subjectivity_threshold and e.subjectivity > 0)
    return PolarityLexicons(pos, neg, subj)


def load_word_list(path: str | Path) -> frozenset[str]:
    """A user word list: one word per line, `#` starts a comment, case-insensitive.

    Features count single tokens, so an entry of several words could never match: refused,
    naming its line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise StablexError(f"word list not found: {path}") from None
    except UnicodeDecodeError:
        raise StablexError(f"word list {path}: not UTF-8") from None
    words = set()
    for number, line in enumerate(lines, 1):
        w = normalise_word(line.split("#", 1)[0])
        if len(w.split()) > 1:
            raise StablexError(
                f"word list {path}, line {number}: {w!r} has several words; features count "
                "single words (list each word, or split the phrase)"
            )
        if w:
            words.add(w)
    if not words:
        raise StablexError(f"word list {path}: no words")
    return frozenset(words)
