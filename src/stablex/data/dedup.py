"""Duplicates and near-duplicates: a text in the test split and a variant of it in the training
split make the test measure memory, not generalisation.

Two keys (Le Monde republishes: the same article under two URLs, the same title with an edited
summary, case or punctuation changed):

- `text_key`: NFKC, case-folded, every run of characters that are not letters or digits
  (punctuation, symbols, spaces) collapsed into one space: texts equal under it are duplicates;
- `title_key`: the same key of the first field (the title, when the text is built from
  several columns, e.g. `title+summary`, joined with newlines by `data.corpus`): texts with the
  same title are near-duplicates. Titles shorter than MIN_TITLE_CHARS (after normalisation)
  are not compared (a short title such as "Éditorial" names a rubric, not an article).

Groups are the connected components of "same text key or same title key" (union-find).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

MIN_TITLE_CHARS = 20
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def text_key(text: str) -> str:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def title_key(text: str) -> str | None:
    """The key of the text's first line when it has several (a title); None otherwise or if short."""
    if "\n" not in text:
        return None
    key = text_key(text.split("\n", 1)[0])
    return key if len(key) >= MIN_TITLE_CHARS else None


def duplicate_groups(texts: list[str]) -> np.ndarray:
    """[n] group id per text: texts in one group share a text key or a title key, transitively."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for keyf in (text_key, title_key):
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            k = keyf(t)
            if k is None:
                continue
            if k in first:
                a, b = find(first[k]), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    return np.array([find(i) for i in range(len(texts))], np.int64)


@dataclass
class DuplicateCount:
    """How many texts of a corpus repeat another one (beyond the first of each group)."""

    n_texts: int
    same_text: int  # texts equal to an earlier one under text_key
    same_title: int  # texts whose title equals an earlier one's (and whose text key differs)
    in_groups: int  # texts in a group of two or more (either key)
    extra: int  # texts beyond the first of each group: what dedup drops

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def count_duplicates(texts: list[str]) -> DuplicateCount:
    keys = [text_key(t) for t in texts]
    seen: set[str] = set()
    same_text = 0
    for k in keys:
        same_text += k in seen
        seen.add(k)
    titles: dict[str, set[str]] = {}
    same_title = 0
    for t, k in zip(texts, keys):
        tk = title_key(t)
        if tk is None:
            continue
        if tk in titles and k not in titles[tk]:
            same_title += 1
        titles.setdefault(tk, set()).add(k)
    g = duplicate_groups(texts)
    sizes = np.bincount(g, minlength=len(texts))
    return DuplicateCount(
        len(texts), same_text, same_title, int((sizes[g] > 1).sum()), int(len(texts) - len(np.unique(g)))
    )


def first_of_groups(texts: list[str]) -> np.ndarray:
    """Indices that keep the first text of every duplicate group (sorted)."""
    g = duplicate_groups(texts)
    _, first = np.unique(g, return_index=True)
    return np.sort(first)


def cross_split_duplicates(texts: list[str], split: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, in different splits and in one duplicate group (one pair per text
    j that joins a group already holding a text of another split)."""
    g = duplicate_groups(texts)
    out = []
    members: dict[int, list[int]] = {}
    for j, gid in enumerate(g):
        for i in members.get(int(gid), []):
            if split[i] != split[j]:
                out.append((i, j))
                break
        members.setdefault(int(gid), []).append(j)
    return out
