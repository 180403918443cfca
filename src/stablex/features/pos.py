"""Sensitivity by class and by part of speech: analysis/<method>/groups.json.

A word of stablex's explanations (explain/words.py) gets the part of speech of the spaCy
token(s) (fr_core_news_sm, universal POS) its characters overlap. Both cut French the same
way on elisions and punctuation, so this is almost always one token: « l' » + « Occident »
-> DET + PROPN; a word of punctuation or symbol characters only (« » ? …) is PUNCT or SYM by
its characters (see _symbol_tag). When the overlapping tokens (whitespace tokens aside) carry
different parts of speech — a word spaCy splits where stablex does not, e.g. « a-t-il » —
the word is **not aligned**: it is counted, never guessed. Statistics: stats/groups.py.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stablex.errors import StablexError
from stablex.features.extract import load_nlp, prepare_text
from stablex.io import read_json, write_json
from stablex.records import AnalysisSummary
from stablex.rundir import Run
from stablex.stats.groups import (
    class_test,
    compare_groups,
    dispersion,
    magnitude_matched,
    text_scale,
    within_text_effects,
    within_text_test,
)

RNG_SEED = 0


def _symbol_tag(word: str) -> str | None:
    """PUNCT / SYM for a word made only of punctuation / symbol characters (Unicode categories
    P* / S*), whatever the tagger said: fr_core_news_sm tags « as NOUN or PROPN in some titles,
    and guillemets are the corpus's strongest opinion cue, so a mis-tag would move them between
    groups. By the universal POS definitions these tags follow from the characters alone."""
    cats = {unicodedata.category(ch)[0] for ch in word}
    return "PUNCT" if cats == {"P"} else "SYM" if cats <= {"P", "S"} and cats else None


def align_pos(doc, starts: np.ndarray, ends: np.ndarray) -> list[str | None]:
    """The universal POS of each word [start, end) of `doc`'s text, None where tokens disagree."""
    toks = [t for t in doc if not t.is_space]
    t_start = np.array([t.idx for t in toks], np.int64)
    t_end = t_start + np.array([len(t) for t in toks], np.int64)
    text = doc.text
    out: list[str | None] = []
    for a, b in zip(starts, ends):
        fixed = _symbol_tag(text[a:b])
        if fixed:
            out.append(fixed)
            continue
        i0 = int(np.searchsorted(t_end, a, side="right"))  # first token ending after a
        i1 = int(np.searchsorted(t_start, b, side="left"))  # tokens starting before b
        tags = {toks[i].pos_ for i in range(i0, i1)}
        out.append(tags.pop() if len(tags) == 1 else None)
    return out


def _word_table(run_dir: Path, method: str) -> pa.Table:
    """per_word.parquet joined with the words' character offsets (from the first seed's table)."""
    run = Run(run_dir)
    words = pq.read_table(
        run.analysis_path(method, "per_word.parquet"),
        columns=["doc_id", "word_index", "word", "mean", "sd", "sign_consistency"],
    )
    spans = pq.read_table(
        run.explanation_path(method, run.explained_seeds(method)[0]), columns=["doc_id", "word_index", "start", "end"]
    )
    table = words.join(spans, keys=["doc_id", "word_index"], join_type="left outer")
    return table.sort_by([("doc_id", "ascending"), ("word_index", "ascending")])


def _majority_prediction(run_dir: Path, seeds: list[int], doc_ids: list[str], classes: list[str]) -> list[str | None]:
    """The class most of the analysed seeds predicted for each text (None on a tie)."""
    votes = np.zeros((len(doc_ids), len(classes)), np.int64)
    where = {d: i for i, d in enumerate(doc_ids)}
    for s in seeds:
        t = pq.read_table(
            Run(run_dir).seed_predictions_path(s), columns=["doc_id", "pred"], filters=[("doc_id", "in", doc_ids)]
        )
        rows = np.array([where[d] for d in t["doc_id"].to_pylist()], np.int64)
        cols = np.array([classes.index(p) for p in t["pred"].to_pylist()], np.int64)
        np.add.at(votes, (rows, cols), 1)
    top = votes.max(1, keepdims=True)
    return [classes[int(r.argmax())] if (r == m).sum() == 1 else None for r, m in zip(votes, top)]


def sensitivity_groups(
    run_dir: str | Path,
    method: str,
    n_boot: int = 500,
    spacy_model: str = "fr_core_news_sm",
    summary: dict | None = None,
) -> dict:
    """Dispersion across seeds by gold class, predicted class and part of speech; writes groups.json."""
    run = Run(run_dir)
    run_dir = run.path
    if not run.analysis_path(method, "per_word.parquet").exists():
        raise StablexError(f"{run_dir}: no analysis of {method!r}; run `stablex analyze --method {method}` first")
    if summary is None:
        where = run.analysis_path(method, "summary.json")
        record = AnalysisSummary.from_dict(read_json(where), where)
        classes, seeds = record.classes, record.seeds
    else:
        classes, seeds = summary["classes"], summary["seeds"]
    words = _word_table(run_dir, method)
    doc = words["doc_id"].to_pylist()
    doc_ids, text = np.unique(np.asarray(doc, object), return_inverse=True)
    doc_ids = [str(d) for d in doc_ids]
    split = pq.read_table(
        run.split_path, columns=["doc_id", "label", "text"], filters=[("doc_id", "in", doc_ids)]
    ).sort_by("doc_id")
    if split["doc_id"].to_pylist() != doc_ids:
        raise StablexError(f"{run.split_path}: some explained texts are missing")
    sd = words["sd"].to_numpy(zero_copy_only=False)
    mean = words["mean"].to_numpy(zero_copy_only=False)
    disp = dispersion(sd, mean, text, len(doc_ids))
    consistency = words["sign_consistency"].to_numpy(zero_copy_only=False)
    gold = np.asarray(split["label"].to_pylist(), object)[text]
    predicted = np.asarray(_majority_prediction(run_dir, seeds, doc_ids, classes), object)[text]
    starts = words["start"].to_numpy(zero_copy_only=False)
    ends = words["end"].to_numpy(zero_copy_only=False)
    bounds = np.flatnonzero(np.r_[True, text[1:] != text[:-1], True])
    nlp = load_nlp(spacy_model)
    pos: list[str | None] = []
    docs = nlp.pipe((prepare_text(t) for t in split["text"].to_pylist()), batch_size=64)
    for i, d in enumerate(docs):
        a, b = bounds[i], bounds[i + 1]
        pos.extend(align_pos(d, starts[a:b], ends[a:b]))
    pos_arr = np.asarray(pos, object)
    rng = np.random.default_rng(RNG_SEED)
    result = {
        "method": method,
        "seeds": seeds,
        "n_seeds": len(seeds),
        "n_texts": len(doc_ids),
        "n_words": len(pos),
        "definition": "dispersion = SD of a word's relevance across seeds / RMS of its text's consensus relevance; "
        "intervals: cluster bootstrap over texts; tests with the text as unit: class labels permuted "
        "across texts (per-text medians), POS labels permuted within texts; "
        "dispersion_matched: at matched |consensus|",
        "pos_alignment": {
            "aligned": int(sum(p is not None for p in pos)),
            "not_aligned": int(sum(p is None for p in pos)),
            "spacy_model": spacy_model,
        },
        "predicted_ties": int(sum(p is None for p in predicted[np.r_[bounds[:-1]]])),
    }
    for name, values in (("dispersion", disp), ("sign_consistency", consistency)):
        result[name] = {
            by: compare_groups(values, labels, text, n_boot, rng)
            for by, labels in (("gold_class", gold), ("predicted_class", predicted), ("pos", pos_arr))
        }
        for by, labels in (("gold_class", gold), ("predicted_class", predicted)):
            result[name][by]["text_test"] = class_test(values, labels, text, n_boot, rng)
        result[name]["pos"]["text_test"] = within_text_test(values, pos_arr, text, n_boot, rng)
        result[name]["pos"]["effects"] = within_text_effects(values, pos_arr, text, n_boot, rng)
    # dispersion compared between POS at matched |consensus| (relative to the text's RMS)
    magnitude = np.abs(mean) / text_scale(mean, text, len(doc_ids))[text]
    matched, edges = magnitude_matched(disp, magnitude)
    result["dispersion_matched"] = {
        "pos": {
            **compare_groups(matched, pos_arr, text, n_boot, rng),
            "text_test": within_text_test(matched, pos_arr, text, n_boot, rng),
            "effects": within_text_effects(matched, pos_arr, text, n_boot, rng),
        },
        "magnitude_bins": edges,
        "definition": "dispersion minus the median dispersion of words in the same "
        "quintile of |consensus| / the text's RMS",
    }
    write_json(run.analysis_path(method, "groups.json"), result)
    return result
