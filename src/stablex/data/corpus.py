"""Reading a labelled corpus (CSV, CSV.gz, JSONL, Parquet) and refusing bad input early.

Every problem is reported once, before any training, naming the file, the column and the
first offending row (1-based data rows, header excluded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stablex.config import CorpusConfig
from stablex.data.preprocess import preprocess_text
from stablex.errors import StablexError
from stablex.io import sha256_file


@dataclass
class Corpus:
    doc_ids: list[str]
    texts: list[str]
    labels: list[str]
    classes: list[str]
    source: str
    sha256: str
    n_rows: int  # rows in the file
    n_dropped_empty: int = 0
    n_dropped_other: int = 0  # rows whose label is not in `classes` (other_labels = "drop")
    splits: list[str] | None = None  # each row's split from [corpus] split_column (None: stablex splits)

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def label_ids(self) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[label] for label in self.labels], dtype=np.int64)


def _read_table(path: Path) -> pa.Table:
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
            delimiter = "\t" if ".tsv" in name else ","
            block = 1 << 20
            while True:  # a field longer than a block (newlines_in_values) needs a larger block
                try:
                    return pacsv.read_csv(
                        path,
                        read_options=pacsv.ReadOptions(block_size=block),
                        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                        # Every column as bytes: we decode ourselves to name the row of a bad byte.
                        convert_options=pacsv.ConvertOptions(
                            check_utf8=False,
                            strings_can_be_null=False,
                            column_types=_all_binary(path, delimiter, block),
                        ),
                    )
                except pa.ArrowInvalid as e:
                    if "straddl" not in str(e) or block >= 1 << 30:
                        raise
                    block *= 8
        if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            return _read_jsonl(path)
        if name.endswith(".parquet"):
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise StablexError(f"{path}: cannot be read: {e}") from None
    raise StablexError(f"{path}: unknown corpus format (use .csv, .csv.gz, .jsonl or .parquet)")


def _all_binary(path: Path, delimiter: str, block: int = 1 << 16) -> dict[str, pa.DataType]:
    reader = pacsv.open_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        read_options=pacsv.ReadOptions(block_size=block),
        convert_options=pacsv.ConvertOptions(check_utf8=False),
    )
    names = reader.schema.names
    reader.close()
    return {n: pa.binary() for n in names}


def _read_jsonl(path: Path) -> pa.Table:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    rows = []
    with opener(path, "rb") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise StablexError(f"{path}: line {i} is not valid UTF-8") from None
            except json.JSONDecodeError as e:
                raise StablexError(f"{path}: line {i} is not valid JSON: {e.msg}") from None
            if not isinstance(row, dict):
                raise StablexError(f"{path}: line {i} is a JSON {type(row).__name__}, not an object of named fields")
            rows.append(row)
    # every field as text (ids may mix numbers and strings across lines)
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({k: pa.array([_as_text(r.get(k)) for r in rows], pa.string()) for k in names})


def _as_text(value) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _column_as_str(table: pa.Table, column: str, path: Path) -> list[str]:
    """Decode one column to Python strings; nulls become ''."""
    col = table.column(column)
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
        values = col.to_pylist()
        out = []
        for i, v in enumerate(values):
            if v is None:
                out.append("")
                continue
            try:
                out.append(v.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise StablexError(
                    f"{path}: column {column!r}, row {i + 1}: undecodable bytes (not UTF-8 at byte {e.start})"
                ) from None
        return out
    if not (
        pa.types.is_string(col.type)
        or pa.types.is_large_string(col.type)
        or pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_boolean(col.type)
        or pa.types.is_dictionary(col.type)
    ):
        raise StablexError(
            f"{path}: column {column!r} holds {col.type} values; a text, label or id column must "
            "hold strings (or numbers)"
        )
    col = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
    return ["" if v is None else v for v in col.to_pylist()]


def _refuse_case_variants(labels: list[str], path: Path, column: str) -> None:
    """`News` and `news` would silently become two classes: refuse, naming variants and counts."""
    variants: dict[str, dict[str, int]] = {}
    for label in labels:
        forms = variants.setdefault(label.casefold(), {})
        forms[label] = forms.get(label, 0) + 1
    for forms in variants.values():
        if len(forms) > 1:
            listed = ", ".join(f"{f!r} ({n} rows)" for f, n in sorted(forms.items()))
            raise StablexError(
                f"{path}: column {column!r}: labels {listed} differ only by case; "
                "make them one label (or set [corpus] classes to keep them apart)"
            )


def load_corpus(cfg: CorpusConfig) -> Corpus:
    """Read, validate and build the texts of a corpus (no sampling, no split)."""
    path = Path(cfg.path)
    if not path.exists():
        raise StablexError(f"corpus file not found: {path}")
    parts = [c.strip() for c in cfg.text.split("+")]
    text_columns = [c for c in parts if c]
    if not text_columns:
        raise StablexError(f"[corpus] text = {cfg.text!r}: names no column")
    if len(text_columns) != len(parts):
        raise StablexError(
            f"[corpus] text = {cfg.text!r}: has an empty column name (columns are joined with '+', e.g. title+summary)"
        )
    table = _read_table(path)
    needed = (
        text_columns + [cfg.label] + ([cfg.id] if cfg.id else []) + ([cfg.split_column] if cfg.split_column else [])
    )
    for column in needed:
        if column not in table.column_names:
            raise StablexError(f"{path}: no column {column!r} (columns: {', '.join(table.column_names)})")
    n = table.num_rows
    if n == 0:
        raise StablexError(f"{path}: the file has no rows")
    labels, other, classes = _labels(table, cfg, path)
    doc_ids = _doc_ids(table, cfg.id, path) if cfg.id else [str(i + 1) for i in range(n)]
    fields = [_column_as_str(table, c, path) for c in text_columns]
    texts = ["\n".join(p.strip() for p in parts if p.strip()) for parts in zip(*fields)]
    if cfg.preprocess:
        texts = [preprocess_text(t) for t in texts]

    empty = [i for i, t in enumerate(texts) if not t.strip() and not other[i]]
    if empty and not cfg.drop_empty:
        first = empty[0]
        raise StablexError(
            f"{path}: {len(empty)} text(s) built from {cfg.text!r} are empty; first at row {first + 1} "
            f"(id {doc_ids[first]!r}). Pass --drop-empty to drop them."
        )
    keep = ~other
    keep[empty] = False
    idx = np.flatnonzero(keep)
    splits = _splits(table, cfg.split_column, path) if cfg.split_column else None
    if not len(idx):
        raise StablexError(
            f"{path}: every text built from {cfg.text!r} is empty ({len(empty)} dropped); nothing to train on"
        )
    return Corpus(
        doc_ids=[doc_ids[i] for i in idx],
        texts=[texts[i] for i in idx],
        labels=[labels[i] for i in idx],
        classes=classes,
        source=str(path.resolve()),
        sha256=sha256_file(path),
        n_rows=n,
        n_dropped_empty=len(empty),
        n_dropped_other=int(other.sum()),
        splits=None if splits is None else [splits[i] for i in idx],
    )


def _splits(table: pa.Table, column: str, path: Path) -> list[str]:
    """The split column's values, each one of train/validation/test (the first other one named)."""
    values = [s.strip() for s in _column_as_str(table, column, path)]
    for i, v in enumerate(values):
        if v not in ("train", "validation", "test"):
            raise StablexError(
                f"{path}: column {column!r}, row {i + 1}: split {v!r} is not one of train, validation, test"
            )
    return values


def _labels(table: pa.Table, cfg: CorpusConfig, path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(label per row, rows whose label is dropped as 'other', the classes), refusing empty,
    unknown and case-variant labels and a single class."""
    labels = [s.strip() for s in _column_as_str(table, cfg.label, path)]
    for i, label in enumerate(labels):
        if not label:
            raise StablexError(f"{path}: column {cfg.label!r}, row {i + 1}: empty label")
    other = np.zeros(len(labels), dtype=bool)
    if cfg.other_labels == "drop" and not cfg.classes:
        raise StablexError("[corpus] other_labels = 'drop': needs [corpus] classes (the labels to keep)")
    if cfg.classes:
        known = set(cfg.classes)
        for i, label in enumerate(labels):
            if label not in known and cfg.other_labels == "drop":
                other[i] = True
            elif label not in known:
                raise StablexError(
                    f"{path}: column {cfg.label!r}, row {i + 1}: unknown label {label!r} "
                    f"(classes: {', '.join(cfg.classes)})"
                )
        classes = list(cfg.classes)
    else:
        classes = sorted(set(labels))
        _refuse_case_variants(labels, path, cfg.label)
    kept_labels = {label for label, o in zip(labels, other) if not o}
    if len(kept_labels) < 2:
        raise StablexError(
            f"{path}: column {cfg.label!r} has a single class ({next(iter(kept_labels), labels[0])!r}); "
            f"need at least two"
        )
    return labels, other, classes


def _doc_ids(table: pa.Table, column: str, path: Path) -> list[str]:
    """The id column as strings, refusing empty and duplicate ids (naming both rows)."""
    doc_ids = [s.strip() for s in _column_as_str(table, column, path)]
    seen: dict[str, int] = {}
    for i, d in enumerate(doc_ids):
        if not d:
            raise StablexError(f"{path}: column {column!r}, row {i + 1}: empty id")
        if d in seen:
            raise StablexError(
                f"{path}: column {column!r}, row {i + 1}: duplicate id {d!r} (first at row {seen[d] + 1})"
            )
        seen[d] = i
    return doc_ids
