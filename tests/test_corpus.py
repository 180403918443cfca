"""Corpus reading, the fixed split, and one clear error per kind of bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stablex.config import CorpusConfig
from stablex.data.corpus import load_corpus
from stablex.data.preprocess import preprocess_text
from stablex.data.split import make_split
from stablex.errors import StablexError

ROWS = [
    {"id": "a", "title": "Un titre", "summary": "Un résumé", "label": "news"},
    {"id": "b", "title": "Tribune", "summary": "", "label": "opinion"},
    {"id": "c", "title": "Autre", "summary": "Texte", "label": "news"},
]


def write_csv(path, rows, header=("id", "title", "summary", "label")):
    lines = [",".join(header)] + [",".join(f'"{r.get(h, "")}"' for h in header) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cfg(path, **kw):
    return CorpusConfig(path=str(path), **kw)


def test_reads_csv_jsonl_parquet_alike(tmp_path):
    csv = write_csv(tmp_path / "c.csv", ROWS)
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS))
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    results = [load_corpus(cfg(p)) for p in (csv, gz, jsonl, parquet)]
    for c in results:
        assert c.doc_ids == ["a", "b", "c"]
        assert c.texts == ["Un titre\nUn résumé", "Tribune", "Autre\nTexte"]  # missing field = empty
        assert c.classes == ["news", "opinion"]


def test_lemonde_title_summary(lemonde_path):
    c = load_corpus(cfg(lemonde_path))
    assert len(c) == 29082 and c.n_dropped_empty == 0
    assert c.labels.count("opinion") == 3306
    assert c.sha256 == "dff6c8600a97d0566c37a62916266577afc28f8b8e723b75ce817331818c56c9"


def test_empty_bodies_are_refused_then_dropped(lemonde_path):
    with pytest.raises(StablexError, match=r"874 text\(s\) built from 'body' are empty; first at row 24"):
        load_corpus(cfg(lemonde_path, text="body"))
    c = load_corpus(cfg(lemonde_path, text="body", drop_empty=True))
    assert len(c) == 29082 - 874 and c.n_dropped_empty == 874


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(text="title+chapo"), r"c\.csv: no column 'chapo'"),
        (dict(label="genre"), r"no column 'genre'"),
        (dict(classes=["news", "tribune"]), r"column 'label', row 2: unknown label 'opinion'"),
    ],
)
def test_bad_options_name_the_column(tmp_path, change, message):
    path = write_csv(tmp_path / "c.csv", ROWS)
    with pytest.raises(StablexError, match=message):
        load_corpus(cfg(path, **change))


def test_single_class_duplicate_ids_and_bad_bytes(tmp_path):
    one = write_csv(tmp_path / "one.csv", [dict(r, label="news") for r in ROWS])
    with pytest.raises(StablexError, match=r"one\.csv: column 'label' has a single class \('news'\)"):
        load_corpus(cfg(one))
    dup = write_csv(tmp_path / "dup.csv", ROWS + [dict(ROWS[0], label="opinion")])
    with pytest.raises(StablexError, match=r"dup\.csv: column 'id', row 4: duplicate id 'a' \(first at row 1\)"):
        load_corpus(cfg(dup))
    bad = tmp_path / "bad.csv"
    write_csv(bad, ROWS)
    bad.write_bytes(bad.read_bytes().replace("résumé".encode(), b"r\xe9sum\xe9"))  # latin-1 bytes
    with pytest.raises(StablexError, match=r"bad\.csv: column 'summary', row 1: undecodable bytes"):
        load_corpus(cfg(bad))
    empty = write_csv(tmp_path / "empty.csv", ROWS + [{"id": "d", "title": "", "summary": "", "label": "news"}])
    with pytest.raises(StablexError, match=r"1 text\(s\) .* first at row 4 \(id 'd'\)"):
        load_corpus(cfg(empty))
    assert len(load_corpus(cfg(empty, drop_empty=True))) == 3


def test_split_is_stratified_balanced_and_fixed(lemonde_path):
    c = load_corpus(cfg(lemonde_path))
    conf = cfg(lemonde_path, balance=True, max_docs=1000, split_seed=3)
    s = make_split(c, conf)
    assert s.sizes() == {"train": 800, "validation": 100, "test": 100}
    for name, n in s.sizes().items():
        assert np.bincount(s.label_ids[s.indices(name)]).tolist() == [n // 2, n // 2]
    assert make_split(c, conf).doc_ids == s.doc_ids  # deterministic
    other = make_split(c, cfg(lemonde_path, balance=True, max_docs=1000, split_seed=4))
    assert other.doc_ids != s.doc_ids
    assert len(set(s.doc_ids)) == 1000


def test_split_counts_like_the_paper(tmp_path):
    rows = [{"id": str(i), "title": f"t{i}", "summary": "", "label": "ab"[i % 2]} for i in range(100)]
    path = write_csv(tmp_path / "c.csv", rows)
    c = load_corpus(cfg(path))
    assert make_split(c, cfg(path, split=[60, 20, 20])).sizes() == {"train": 60, "validation": 20, "test": 20}
    with pytest.raises(StablexError, match="asks for 120 documents; only 100"):
        make_split(c, cfg(path, split=[80, 20, 20]))


def test_preprocessing_placeholders():
    assert (
        preprocess_text("En 2022, 1 500 000 € ; voir https://lemonde.fr/a?b=1 ﬁn")
        == "En [NUM], [NUM] € ; voir [URL] fin"
    )


def test_new_user_inputs_get_one_line_naming_the_culprit(tmp_path):
    mixed = tmp_path / "mixed.jsonl"  # ids that mix numbers and strings across lines
    mixed.write_text("\n".join(json.dumps(dict(r, id=i if i % 2 else f"x{i}")) for i, r in enumerate(ROWS)))
    assert load_corpus(cfg(mixed)).doc_ids == ["x0", "1", "x2"]
    listed = tmp_path / "list.jsonl"
    listed.write_text(json.dumps(ROWS[0]) + "\n[1, 2]\n")
    with pytest.raises(StablexError, match=r"list\.jsonl: line 2 is a JSON list, not an object of named fields"):
        load_corpus(cfg(listed))
    cased = write_csv(tmp_path / "cased.csv", ROWS + [{"id": "d", "title": "t", "summary": "s", "label": "News"}])
    with pytest.raises(
        StablexError,
        match=r"cased\.csv: column 'label': labels 'News' \(1 rows\), 'news' \(2 rows\) "
        r"differ only by case",
    ):
        load_corpus(cfg(cased))
    blank = write_csv(tmp_path / "blank.csv", [dict(r, title="", summary="") for r in ROWS])
    with pytest.raises(
        StablexError, match=r"blank\.csv: every text built from 'title\+summary' is empty \(3 dropped\)"
    ):
        load_corpus(cfg(blank, drop_empty=True))
