"""Duplicates and near-duplicates (data/dedup.py): the keys, the split's refusal or dedup, the
count on the real Le Monde 2022 corpus."""

from __future__ import annotations

import numpy as np

from stablex.config import CorpusConfig
from stablex.data.corpus import load_corpus
from stablex.data.dedup import count_duplicates, cross_split_duplicates, duplicate_groups, text_key, title_key
from stablex.data.split import make_split
from stablex.errors import StablexError


def test_keys_ignore_case_spacing_punctuation_and_width():
    assert (
        text_key("L’OTAN  ressuscitée !\nUn  résumé.")
        == text_key("l’otan ressuscitée\nun résumé")
        == "l otan ressuscitée un résumé"
    )
    assert text_key("ｆｕｌｌ　width") == "full width"  # NFKC
    assert title_key("Comment Vladimir Poutine a ressuscité l’OTAN\nRevigorée") == title_key(
        "comment vladimir poutine a ressuscité l'OTAN\nPrivée de ses ennemis"
    )
    assert title_key("Éditorial\nUn texte") is None and title_key("one field only, long enough to count") is None
    texts = [
        "Un titre assez long pour compter\nRésumé A",
        "UN TITRE assez long, pour compter\nRésumé B",
        "Autre chose\nX",
        "autre chose  \nx",
        "Sans rapport\nY",
    ]
    g = duplicate_groups(texts)
    assert g[0] == g[1] and g[2] == g[3] and len(set(g)) == 3
    c = count_duplicates(texts)
    assert (c.same_text, c.same_title, c.in_groups, c.extra) == (1, 1, 4, 2)
    assert cross_split_duplicates(texts, np.array(["train", "test", "train", "train", "test"])) == [(0, 1)]


def corpus_file(tmp_path, n: int = 40):
    """n distinct texts per class, plus a variant of text news-0 (another case and punctuation)."""
    rows = [f'"n{i}","Article numéro {i} de la rubrique nouvelles","Résumé {i}","news"' for i in range(n)]
    rows += [f'"o{i}","Tribune numéro {i} sur un sujet débattu","Avis {i}","opinion"' for i in range(n)]
    rows.append('"n0bis","ARTICLE NUMÉRO 0 de la rubrique nouvelles !","Résumé 0, édité","news"')
    path = tmp_path / "c.csv"
    path.write_text("id,title,summary,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_split_with_a_duplicate_across_splits_is_refused_or_deduplicated(tmp_path):
    path = corpus_file(tmp_path)
    c = load_corpus(CorpusConfig(path=str(path)))
    splits = {}
    for seed in range(40):  # a split seed that puts n0 and its variant in different splits
        try:
            make_split(c, CorpusConfig(path=str(path), split=[0.5, 0.0, 0.5], split_seed=seed))
        except StablexError as e:
            splits["refused"] = (seed, str(e))
            break
    seed, message = splits["refused"]
    assert "duplicate" in message and "'n0" in message and "dedup = true" in message and "--dedup" in message
    s = make_split(c, CorpusConfig(path=str(path), split=[0.5, 0.0, 0.5], split_seed=seed, dedup=True))
    assert s.dropped_duplicates == 1 and "n0bis" not in s.doc_ids and len(s.doc_ids) == 80
    assert cross_split_duplicates(s.texts, s.split) == []


def test_le_monde_2022_duplicates_are_counted(lemonde_path):
    """The count the README gives (title+summary, the studies' text)."""
    c = load_corpus(CorpusConfig(path=str(lemonde_path), text="title+summary"))
    d = count_duplicates(c.texts)
    assert (d.n_texts, d.same_text, d.same_title, d.in_groups, d.extra) == (29082, 27, 27, 90, 54)
