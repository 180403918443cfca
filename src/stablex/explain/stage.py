"""`stablex explain`: every seed's model, every text of a split, one method -> word relevances.

Output (docs/run-directory.md): `RUN/explanations/<method>/seed-<seed>.parquet` for the
test split, `RUN/explanations/<method>@<split>/` for another split (so that explaining the
training split for the hybrid never overwrites the test explanations), and `summary.json`
beside them. Resumable per seed: a seed whose parquet exists is skipped. The directory
belongs to one explain configuration; another one is refused (ConfigMismatchError) unless
`force=True`, which discards what is there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.progress import Progress
from sklearn.model_selection import train_test_split

from stablex import ledger
from stablex.config import ExplainConfig
from stablex.errors import ConfigMismatchError, StablexError
from stablex.explain.checks import randomisation_check
from stablex.explain.methods import (
    METHODS,
    Attribution,
    SharedLayersDiffer,
    check_rules,
    get_method,
    method_identity,
    method_record,
    resolve,
)
from stablex.explain.words import aggregate
from stablex.io import read_json, remove, write_json, write_parquet
from stablex.progress import progress_or
from stablex.rundir import Run, open_run
from stablex.runtime import torch_threads

SCHEMA = pa.schema(
    [
        ("seed", pa.int32()),
        ("doc_id", pa.string()),
        ("word_index", pa.int32()),
        ("word", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("relevance", pa.float32()),
        ("target", pa.string()),
        ("pred", pa.string()),
        ("logit", pa.float32()),
    ]
)
SIGN = "relevance is toward `target` (positive: the word raises the target class's logit)"


@dataclass
class ExplainResult:
    out_dir: Path
    explained: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)


@dataclass
class Texts:
    doc_ids: list[str]
    texts: list[str]
    label_ids: np.ndarray


def explained_count(config: ExplainConfig) -> int | None:
    """How many texts of `config.split` to explain: `train_texts` for the training split, else `texts`."""
    return config.train_texts if config.split == "train" else config.texts


def stratified_subset(label_ids: np.ndarray, n: int | None, seed: int, option: str = "texts") -> np.ndarray:
    """Positions of a fixed, label-stratified subset of n items (sorted); all of them when n is None
    or not smaller. It depends only on the labels, n and `seed`: every seed and method gets it."""
    if n is None or n >= len(label_ids):
        return np.arange(len(label_ids))
    classes = np.unique(label_ids)
    if n < max(1, len(classes)):
        raise StablexError(f"[explain] {option} = {n}: must be at least the number of classes ({len(classes)})")
    try:
        pos, _ = train_test_split(np.arange(len(label_ids)), train_size=n, stratify=label_ids, random_state=seed)
    except ValueError:  # a class too rare to stratify: a plain draw with the same seed
        pos = np.random.default_rng(seed).choice(len(label_ids), n, replace=False)
    return np.sort(pos)


def select_texts(run: Run, config: ExplainConfig) -> Texts:
    """The texts an explain configuration covers: the split, or its fixed stratified subset
    (`texts` / `train_texts`, drawn with [corpus] split_seed), or (old option) its first max_docs."""
    split = run.split()
    idx = split.indices(config.split)
    n = explained_count(config)
    if config.max_docs is not None:
        if n is not None:
            raise StablexError(
                f"[explain] max_docs and {'train_texts' if config.split == 'train' else 'texts'} "
                "are both set: use only texts / train_texts (a stratified subset)"
            )
        idx = idx[: config.max_docs]
    elif n is not None:
        option = "train_texts" if config.split == "train" else "texts"
        idx = idx[stratified_subset(split.label_ids[idx], n, int(run.config().corpus.split_seed), option)]
    if len(idx) == 0:
        raise StablexError(f"{run.path}: the {config.split} split is empty")
    return Texts([split.doc_ids[i] for i in idx], [split.texts[i] for i in idx], split.label_ids[idx])


def _note_in_manifest(run: Run, name: str, record: dict) -> None:
    """manifest.json's `explained.<dir>`: how many texts each explanation directory covers."""
    manifest = run.manifest()
    explained = manifest.setdefault("explained", {})
    if explained.get(name) != record:
        explained[name] = record
        write_json(run.manifest_path, manifest)


def texts_record(run: Run, config: ExplainConfig, texts: Texts) -> dict:
    """What the summary and the report say about the explained texts."""
    n, of = len(texts.doc_ids), len(run.split().indices(config.split))
    if config.max_docs is not None:
        how = f"the first {config.max_docs} of the split"
    elif n < of:
        how = f"stratified by label, drawn with split_seed {run.config().corpus.split_seed}"
    else:
        how = "the whole split"
    classes = run.classes()
    return {
        "n": n,
        "of": of,
        "split": config.split,
        "selection": how,
        "class_counts": {c: int((texts.label_ids == i).sum()) for i, c in enumerate(classes)},
    }


def resolve_target(target: str, classes: list[str], label_ids: np.ndarray) -> np.ndarray | None:
    """None for 'predicted' (decided by each seed); class ids [N] for 'label' or a class name."""
    if target == "predicted":
        return None
    if target == "label":
        return label_ids.astype(np.int64)
    if target in classes:
        return np.full(len(label_ids), classes.index(target), np.int64)
    raise StablexError(f"[explain] target = {target!r}: use predicted, label or a class name ({', '.join(classes)})")


def check_config(config: ExplainConfig, method: str) -> None:
    """What only the explainers know: the method's name and its `[explain.<method>]` options
    (the section checked itself when it was made)."""
    if method not in METHODS:
        raise StablexError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_rules(method, config)


def identity(run: Run, method: str, config: ExplainConfig, max_tokens: int) -> dict[str, Any]:
    """What the explanations of a directory depend on (batching and threads do not count)."""
    ident = {
        "method": method,
        "options": method_identity(method, config),
        "split": config.split,
        "target": config.target,
        "aggregate": config.aggregate,
        "max_docs": config.max_docs,
        "max_tokens": max_tokens,
        "run_config_hash": run.manifest().get("config_hash"),
    }
    if explained_count(config) is not None:  # absent for whole splits: older runs keep their identity
        ident["texts"] = explained_count(config)
    return ident


def length_batches(lengths: np.ndarray, batch_size: int, batch_tokens: int) -> list[np.ndarray]:
    """Texts sorted by length, cut into batches of <= batch_size texts and ~batch_tokens padded tokens."""
    order = np.argsort(lengths, kind="stable")
    out, cur = [], []
    for i in order:
        longest = int(lengths[i])  # sorted: the newcomer is the longest
        if cur and (len(cur) >= batch_size or (len(cur) + 1) * longest > batch_tokens):
            out.append(np.asarray(cur))
            cur = []
        cur.append(int(i))
    if cur:
        out.append(np.asarray(cur))
    return out


@dataclass
class SeedOutput:
    table: pa.Table
    record: dict


def explain_texts(
    attributor,
    encoder,
    texts: Texts,
    classes: list[str],
    target: np.ndarray | None,
    config: ExplainConfig,
    max_tokens: int,
    seeds: list[int],
    tick=None,
) -> list[SeedOutput]:
    """Explain `texts` with the models of `seeds` (the attributor's, in that order): texts outer,
    seeds inner, so a batch is tokenised once and the shared layers run once for every seed.
    Returns each seed's word table and record; its timings are the pass's, shared equally."""
    lengths = encoder.lengths(texts.texts, max_tokens)
    keys = ("doc", "n", "wi", "start", "end", "rel", "tgt", "pred", "logit")
    cols: list[dict[str, list]] = [{k: [] for k in keys} for _ in seeds]
    checks = [_Checks() for _ in seeds]
    started = time.perf_counter()
    t_attr = 0.0
    for idx in length_batches(lengths, config.batch_size, config.batch_tokens):
        batch = encoder([texts.texts[i] for i in idx], max_tokens)
        special = np.asarray(batch.special_tokens_mask, bool)
        t0 = time.perf_counter()
        given = None if target is None else torch.from_numpy(target[idx])
        atts: list[Attribution] = attributor.attribute_seeds(batch, [given] * len(seeds))
        t_attr += time.perf_counter() - t0
        for att, col, check in zip(atts, cols, checks):
            check.add(att, special)
            _gather(col, att, batch, idx, texts, classes, config.aggregate)
        if tick:
            tick(len(idx))
    seconds = (time.perf_counter() - started) / len(seeds)
    n = len(texts.doc_ids)
    out = []
    for seed, col, check in zip(seeds, cols, checks):
        record: dict[str, Any] = {
            "n_texts": n,
            "n_words": int(np.sum(col["n"])),
            "seconds": round(seconds, 3),
            "ms_per_text": round(1000 * seconds / n, 2),
            "attribution_ms_per_text": round(1000 * t_attr / len(seeds) / n, 2),
            "threads": torch.get_num_threads(),
            "seeds_per_pass": len(seeds),
            **check.record(),
        }
        out.append(SeedOutput(_word_table(col, texts, seed), record))
    return out


def _gather(cols: dict[str, list], att: Attribution, batch, idx: np.ndarray, texts: Texts, classes, how: str) -> None:
    """One batch of one seed's token relevances, summed into words, appended to its columns."""
    rel, tgt, pred = att.relevance.numpy(), att.target.numpy(), att.logits.argmax(1).numpy()
    logit = att.logits.gather(1, att.target[:, None])[:, 0].numpy()
    for row, i in enumerate(idx):
        w = aggregate(texts.texts[i], rel[row], batch.offsets[row], batch.special_tokens_mask[row], how)
        n = len(w)
        cols["doc"].append(texts.doc_ids[i])
        cols["n"].append(n)
        cols["wi"].append(np.arange(n, dtype=np.int32))
        cols["start"].append(w.start)
        cols["end"].append(w.end)
        cols["rel"].append(w.relevance)
        cols["tgt"].append(classes[tgt[row]])
        cols["pred"].append(classes[pred[row]])
        cols["logit"].append(float(logit[row]))


def _word_table(cols: dict[str, list], texts: Texts, seed: int) -> pa.Table:
    """One row per word (SCHEMA) from the per-text columns `explain_texts` gathered."""
    n = np.asarray(cols["n"])
    start = np.concatenate(cols["start"]) if cols["start"] else np.zeros(0, np.int32)
    end = np.concatenate(cols["end"]) if cols["end"] else np.zeros(0, np.int32)
    doc_rep = np.repeat(np.arange(len(n)), n)
    text_of = {d: t for d, t in zip(texts.doc_ids, texts.texts)}
    words = [text_of[cols["doc"][k]][a:b] for k, a, b in zip(doc_rep, start, end)]
    return pa.table(
        {
            "seed": pa.array(np.full(len(words), seed, np.int32)),
            "doc_id": pa.array(np.asarray(cols["doc"], dtype=object)[doc_rep].tolist(), pa.string()),
            "word_index": pa.array(np.concatenate(cols["wi"]) if cols["wi"] else np.zeros(0, np.int32)),
            "word": pa.array(words, pa.string()),
            "start": pa.array(start.astype(np.int32)),
            "end": pa.array(end.astype(np.int32)),
            "relevance": pa.array(
                np.concatenate(cols["rel"]).astype(np.float32) if cols["rel"] else np.zeros(0, np.float32)
            ),
            "target": pa.array(np.asarray(cols["tgt"], dtype=object)[doc_rep].tolist(), pa.string()),
            "pred": pa.array(np.asarray(cols["pred"], dtype=object)[doc_rep].tolist(), pa.string()),
            "logit": pa.array(np.asarray(cols["logit"], np.float32)[doc_rep]),
        },
        schema=SCHEMA,
    )


@dataclass
class _Checks:
    """Per-batch sums behind a seed's conservation, completeness and special-token records."""

    layer_ratios: list = field(default_factory=list)
    layer_raw: list = field(default_factory=list)
    special_share: list = field(default_factory=list)
    pos_share: list = field(default_factory=list)  # lrp: position + token-type embeddings' share of the input
    ref_ratio: list = field(default_factory=list)
    names: list[str] | None = None

    def add(self, att: Attribution, special: np.ndarray) -> None:
        rel = att.relevance.numpy()
        if att.layer_sums is not None:
            self.names = att.layer_names
            self.layer_ratios.append((att.layer_sums / att.reference[:, None]).numpy())
            self.layer_raw.append(np.concatenate([att.layer_sums.numpy(), att.reference.numpy()[:, None]], 1))
        total = att.relevance.sum(1).numpy()
        self.special_share.append(np.where(special, rel, 0).sum(1) / np.where(total == 0, 1, total))
        if att.position_type is not None:
            both = total + att.position_type.numpy()
            self.pos_share.append(att.position_type.numpy() / np.where(both == 0, 1, both))
        if att.reference is not None and att.layer_sums is None:
            self.ref_ratio.append((att.relevance.sum(1) / att.reference).numpy())

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.layer_ratios:
            r, raw = np.concatenate(self.layer_ratios), np.concatenate(self.layer_raw)
            # per text: sum of relevance at the layer / explained logit; pooled: sum over texts / sum of logits
            out["conservation"] = {
                name: {
                    "mean": float(np.mean(r[:, k])),
                    "median": float(np.median(r[:, k])),
                    "pooled": float(raw[:, k].sum() / raw[:, -1].sum()),
                }
                for k, name in enumerate(self.names or [])
            }
        out["special_tokens_share"] = float(np.median(np.concatenate(self.special_share)))  # of the words' relevance
        if self.pos_share:  # relevance the words do not own (median over texts, of words + position/type)
            out["position_type_share"] = float(np.median(np.concatenate(self.pos_share)))
        if self.ref_ratio:
            r = np.concatenate(self.ref_ratio)
            out["completeness"] = {"mean": float(np.mean(r)), "median": float(np.median(r))}
        return out


def _summarise(summary: dict) -> None:
    """Run-level conservation: mean over seeds of each seed's mean ratio per layer."""
    seeds = summary.get("seeds", {})
    cons = [s["conservation"] for s in seeds.values() if "conservation" in s]
    if cons:
        summary["conservation"] = {k: float(np.mean([c[k]["mean"] for c in cons])) for k in cons[0]}
    secs = [s.get("seconds", 0.0) for s in seeds.values()]  # none for a seed whose timing was lost
    texts = [s["n_texts"] for s in seeds.values()]
    summary["timings"] = {
        "seconds": round(float(sum(secs)), 3),
        "ms_per_text": round(1000 * sum(secs) / max(1, sum(texts)), 2),
    }


def plan(
    run_dir: str | Path, method: str, config: ExplainConfig, seeds: list[int] | None, force: bool
) -> tuple[Run, Path, dict, ExplainResult, list[int]]:
    """Checks and bookkeeping before explaining: (run, out dir, summary, result, seeds to do).

    Refuses a bad method/target/split and explanations made with another configuration
    (discarded with `force`); shared by the local stage and the distributed executors.
    """
    check_config(config, method)
    run = open_run(run_dir)
    classes = run.classes()
    resolve_target(config.target, classes, np.zeros(0, np.int64))  # refuse a bad target before anything else
    out = run.explanations_dir(method, config.split)
    ident = identity(run, method, config, int(run.config().corpus.max_tokens))
    summary_path = run.explanations_summary_path(method, config.split)
    summary: dict = read_json(summary_path) if summary_path.exists() else {}
    if summary and summary.get("config") != ident:
        if not force:
            raise ConfigMismatchError(
                f"{out} holds explanations made with another explain configuration "
                f"({_diff(summary.get('config') or {}, ident)}); use --force to discard them"
            )
        remove(out)
        summary = {}
    if not summary:
        summary = {
            "method": method,
            "split": config.split,
            "config": ident,
            "sign": SIGN,
            **method_record(method, config),
            "seeds": {},
        }
    summary["texts"] = texts_record(run, config, select_texts(run, config))
    _note_in_manifest(run, out.name, summary["texts"])
    all_seeds = run.trained_seeds() if seeds is None else list(seeds)
    if not all_seeds:
        raise StablexError(f"{run.path}: no trained seeds; run `stablex train` first")
    result = ExplainResult(out_dir=out, summary=summary)
    todo: list[int] = []
    for s in all_seeds:
        (result.skipped if run.explanation_path(method, s, config.split).exists() else todo).append(s)
    if from_seed_records(run, method, config.split, summary) and (
        not summary_path.exists() or read_json(summary_path) != summary
    ):
        write_json(summary_path, summary)  # a killed invocation's seeds, or a lost summary: completed here
    return run, out, summary, result, todo


RECORD_KEY, RANDOMISATION_KEY = b"stablex.record", b"stablex.randomisation"
# what differs between two runs of the same seed: kept in summary.json, not in the seed file,
# so that a rebuilt seed file is byte-identical to the one it replaces
VOLATILE = ("seconds", "ms_per_text", "attribution_ms_per_text", "threads", "seeds_per_pass")


def with_record(table: pa.Table, record: dict, randomisation: dict | None = None) -> pa.Table:
    """The seed's word table carrying its summary record (and the randomisation check, on the
    seed that ran it) in its Parquet metadata: written atomically with the relevances, so
    summary.json can always be rebuilt from the seed files (`from_seed_records`)."""
    meta = dict(table.schema.metadata or {})
    meta[RECORD_KEY] = json.dumps({k: v for k, v in record.items() if k not in VOLATILE}).encode()
    if randomisation is not None:
        meta[RANDOMISATION_KEY] = json.dumps(randomisation).encode()
    return table.replace_schema_metadata(meta)


def from_seed_records(run: Run, method: str, split: str, summary: dict) -> bool:
    """Set `summary`'s per-seed records (and run-level conservation, timings, randomisation)
    from every seed file of the directory, whichever invocation wrote it; False when no seed
    file carries a record (explanations written before records were kept there)."""
    found: dict[str, dict] = {}
    randomisation: tuple[int, dict] | None = None
    for s in run.explained_seeds(method, split):
        path = ledger.checked(run.explanation_path(method, s, split))
        try:
            meta = pq.read_schema(path).metadata or {}
        except (pa.ArrowInvalid, OSError):
            raise StablexError(
                f"{path}: damaged (not a readable Parquet file); delete it and rerun "
                f"`stablex explain {run.path} --method {method}`"
            ) from None
        if RECORD_KEY in meta:
            found[str(s)] = json.loads(meta[RECORD_KEY])
        if RANDOMISATION_KEY in meta and randomisation is None:
            randomisation = (s, json.loads(meta[RANDOMISATION_KEY]))
    if not found:
        return False
    known = summary.get("seeds", {})  # timings of the seeds this summary saw explained
    on_disk = {str(s) for s in run.explained_seeds(method, split)}
    merged = {k: v for k, v in known.items() if k in on_disk}  # a seed file written before records were kept
    merged.update({k: {**{t: known[k][t] for t in VOLATILE if t in known.get(k, {})}, **found[k]} for k in found})
    summary["seeds"] = dict(sorted(merged.items(), key=lambda kv: int(kv[0])))
    if randomisation is not None:
        summary["randomisation"] = {"seed": randomisation[0], **randomisation[1]}
    _summarise(summary)
    return True


def explain(
    run_dir: str | Path,
    method: str,
    config: ExplainConfig,
    seeds: list[int] | None = None,
    progress: Progress | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> ExplainResult:
    """Explain every text of `config.split` with every seed's model (seeds already done are skipped)."""
    from stablex.models.classifier import load_encoder, load_seed_model

    started = time.perf_counter()
    run, out, summary, result, todo = plan(run_dir, method, config, seeds, force)
    if not todo:
        return result
    classes = run.classes()
    max_tokens = int(run.config().corpus.max_tokens)
    summary_path = run.explanations_summary_path(method, config.split)
    texts = select_texts(run, config)
    target = resolve_target(config.target, classes, texts.label_ids)
    resolved = resolve(method, config)  # the name resolved once, for every seed
    opts = resolved.kwargs()
    encoder = load_encoder(run.path)
    shared = shared_layers(run)
    packs = [todo[i : i + config.seeds_per_pass] for i in range(0, len(todo), config.seeds_per_pass)]
    with (
        torch_threads(config.threads),
        progress_or(progress, disable=not show_progress) as prog,
        torch.inference_mode(False),
    ):
        seeds_task = prog.add_task(f"explain {method} ({len(result.skipped)} seed(s) done)", total=len(todo))
        for pack in packs:
            loaded = [load_seed_model(run.path, s, encoder) for s in pack]
            try:
                attributor = resolved.make([m.model for m in loaded], shared)
            except SharedLayersDiffer as e:  # frozen layers that differ between seeds: not the run it says it is
                raise StablexError(
                    f"{run.path}: seeds {', '.join(map(str, pack))} do not share the {shared} frozen layers "
                    f"[model] freeze_layers says they share ({e}); retrain them, or explain them one "
                    "at a time with --set explain.seeds_per_pass=1"
                ) from None
            task = prog.add_task(f"seed(s) {', '.join(map(str, pack))}", total=len(texts.doc_ids))
            outs = explain_texts(
                attributor, encoder, texts, classes, target, config, max_tokens, pack,
                tick=lambda k, t=task: prog.advance(t, k),
            )  # fmt: skip
            for s, one, res in zip(pack, loaded, outs):
                check = None
                if "randomisation" not in summary and config.randomisation_texts > 0:
                    check = _randomise(one, method, opts, texts, target, config, max_tokens)
                write_parquet(run.explanation_path(method, s, config.split), with_record(res.table, res.record, check))
                summary["seeds"][str(s)] = res.record
                from_seed_records(run, method, config.split, summary)  # with the seeds other invocations wrote
                write_json(summary_path, summary)
                result.explained.append(s)
                prog.advance(seeds_task)
            prog.remove_task(task)
            del loaded, attributor
    result.seconds = time.perf_counter() - started
    result.summary = summary
    return result


def shared_layers(run: Run) -> int:
    """The lower layers every seed of `run` shares: its frozen ones (the embeddings with them);
    none for imported seeds, each of which brings all its weights."""
    if run.imported():
        return 0
    return int(run.config().model.freeze_layers or 0)


def _randomise(
    loaded, method: str, opts: dict, texts: Texts, target: np.ndarray | None, config: ExplainConfig, max_tokens: int
) -> dict:
    k = min(config.randomisation_texts, len(texts.texts))
    batch = loaded.encode(texts.texts[:k], max_tokens)
    keep = ~np.asarray(batch.special_tokens_mask, bool)
    t = None if target is None else torch.from_numpy(target[:k])

    class _Fixed:  # the first call decides the explained class when target is 'predicted'
        def __init__(self, inner):
            self.inner = inner

        def attribute(self, b, tg=None):
            return self.inner.attribute(b, t if tg is None else tg)

    return randomisation_check(loaded.model, lambda m: _Fixed(get_method(method, m, **opts)), batch, keep)


def _diff(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys) or "unknown difference"
