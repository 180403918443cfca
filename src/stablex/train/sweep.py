"""`stablex train`: one classifier per seed into the run directory, resumable seed by seed."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from rich.progress import Progress
from scipy.special import softmax
from sklearn.metrics import f1_score

from stablex.config import StudyConfig
from stablex.data.corpus import load_corpus
from stablex.data.split import SPLITS, Split, make_split
from stablex.errors import StablexError
from stablex.io import write_parquet
from stablex.models.classifier import init_classifier, load_encoder, prepare_base, save_trained
from stablex.models.resolve import resolve_model
from stablex.progress import progress_or
from stablex.records import SeedMetrics
from stablex.rundir import Run, prepare_run, start_ledger, write_run_records
from stablex.runtime import torch_threads
from stablex.train.layers import supports_split
from stablex.train.loop import (
    Inputs,
    cache_lower,
    configure_trainable,
    fit,
    predict,
    predict_precision,
    resolve_device,
    resolve_precision,
)
from stablex.train.seeds import SOURCES, plan_seed


@dataclass
class TrainResult:
    run_dir: Path
    trained: list[int] = field(default_factory=list)  # seeds trained by this call
    skipped: list[int] = field(default_factory=list)  # seeds already complete
    seconds: float = 0.0


def resolve_encoder(cfg: StudyConfig) -> StudyConfig:
    """`cfg` with what depends on the encoder resolved and checked, before anything is written:
    its config.json and weights readable, `freeze_layers = "half"` (the quick preset) made the
    number of layers it means, at most half of them frozen, max_tokens within its positions.
    Returns a copy when something was resolved (the run's study.toml then records the number)."""
    from stablex.models.resolve import encoder_facts

    facts = encoder_facts(resolve_model(cfg.model.name))
    k = cfg.model.freeze_layers
    if k == "half":
        k = facts.n_layers // 2
        cfg = cfg.replace("model", freeze_layers=k)
    if k > facts.n_layers // 2:
        raise StablexError(
            f"[model] freeze_layers = {k}: at most half of the {facts.n_layers} layers of "
            f"{cfg.model.name} may be frozen (use at most {facts.n_layers // 2})"
        )
    if cfg.corpus.max_tokens > facts.positions:
        raise StablexError(
            f"[corpus] max_tokens = {cfg.corpus.max_tokens}: must be <= {facts.positions}, "
            f"the positions of {cfg.model.name}"
        )
    return cfg


def init_run(cfg: StudyConfig, out: str | Path, force: bool = False) -> Run:
    """Create (or reopen) RUN/: validated corpus, fixed split, prepared base checkpoint.
    `precision = "auto"` is resolved here: the run records what its seeds use."""
    cfg = resolve_encoder(cfg)  # command-line and API overrides too: a bad value stops here, before anything is written
    precision = resolve_precision(cfg.train)
    if precision != cfg.train.precision:
        cfg = cfg.replace("train", precision=precision)
    run, fresh = prepare_run(cfg, out, force=force)
    if not fresh:
        return run
    corpus = load_corpus(cfg.corpus)  # every input error surfaces here, before any training
    split = make_split(corpus, cfg.corpus)
    resolved = resolve_model(cfg.model.name)
    created = not run.path.exists() or not any(run.path.iterdir())
    start_ledger(run, cfg)
    try:
        model_facts = {"name": cfg.model.name, "path": str(resolved.path), "source": resolved.source}
        model_facts["base"] = prepare_base(resolved, split.texts, run.path, cfg.model.trim_vocab, cfg.corpus.max_tokens)
        corpus_facts = {
            "path": corpus.source,
            "sha256": corpus.sha256,
            "rows": corpus.n_rows,
            "dropped_empty": corpus.n_dropped_empty,
            "dropped_other_labels": corpus.n_dropped_other,
            "dropped_duplicates": split.dropped_duplicates,
            "text": cfg.corpus.text,
            "label": cfg.corpus.label,
        }
        write_run_records(run, cfg, split, corpus_facts, model_facts)
    except BaseException:
        if created:  # leave nothing half-made behind
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run


def check_plans(run: Run, cfg: StudyConfig, seeds: list[int]) -> None:
    """A trained seed whose recorded sources differ from what the design now gives it (moved to
    another group) would silently mix designs: refuse it."""
    for s in seeds:
        recorded = run.seed_metrics(s).sources()
        plan, _ = plan_seed(cfg.train, s)
        if any(recorded[k] is not None and recorded[k] != getattr(plan, k) for k in SOURCES):
            raise StablexError(
                f"seed {s} was trained with other per-source seeds than [train] groups now gives it "
                f"(moved to another group?); use another --out, or --force to discard its results"
            )


def split_metrics(split, logits: np.ndarray) -> dict[str, dict]:
    """Accuracy, macro-F1, loss and size of every non-empty part of the split (a seed's metrics)."""
    return {
        s: _metrics(logits[split.indices(s)], split.label_ids[split.indices(s)])
        for s in SPLITS
        if len(split.indices(s))
    }


def _metrics(logits: np.ndarray, labels: np.ndarray) -> dict:
    pred = logits.argmax(1)
    loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(f1_score(labels, pred, average="macro")),
        "loss": loss,
        "n": int(len(labels)),
    }


def _predictions_table(split, logits: np.ndarray) -> pa.Table:
    probs = softmax(logits, axis=1)
    pred = logits.argmax(1)
    cols = {
        "doc_id": pa.array(split.doc_ids, pa.string()),
        "split": pa.array(split.split.tolist(), pa.string()),
        "label": pa.array(split.labels, pa.string()),
        "pred": pa.array([split.classes[i] for i in pred], pa.string()),
    }
    for i, c in enumerate(split.classes):
        cols[f"prob_{c}"] = pa.array(probs[:, i], pa.float32())
    for i, c in enumerate(split.classes):
        cols[f"logit_{c}"] = pa.array(logits[:, i], pa.float32())
    return pa.table(cols)


def train(
    cfg: StudyConfig,
    out: str | Path,
    force: bool = False,
    progress: Progress | None = None,
    show_progress: bool = True,
    seeds: list[int] | None = None,
) -> TrainResult:
    """Fine-tune one classifier per seed in `cfg.train.seeds` (or `seeds`, a part of the sweep
    handed to one worker); seeds already complete are skipped."""
    started = time.perf_counter()
    cfg = resolve_encoder(cfg)
    run = init_run(cfg, out, force=force)
    result = TrainResult(run_dir=run.path)
    done = set(run.trained_seeds())
    wanted = cfg.train.seeds if seeds is None else seeds
    check_plans(run, cfg, [s for s in wanted if s in done])
    todo = [s for s in wanted if s not in done]
    result.skipped = [s for s in wanted if s in done]
    if not todo:
        return result
    if run.imported():
        raise StablexError(
            f"{run.path}: its seeds were imported (`stablex import`), so it trains none; seed(s) "
            f"{', '.join(map(str, todo))} are not among its {len(done)} imported seeds"
        )
    with (
        torch_threads(cfg.train.threads or os.cpu_count() or 1),
        progress_or(progress, disable=not show_progress) as prog,
    ):
        data = _sweep_inputs(run, cfg, prog)
        n_steps = int(np.ceil(len(data.train.labels) / cfg.train.batch_size)) * cfg.train.epochs
        seeds_task = prog.add_task(f"seeds ({len(result.skipped)} already done)", total=len(todo))
        for seed in todo:
            step_task = prog.add_task(f"seed {seed}", total=n_steps)
            _train_seed(run, cfg, data, seed, tick=lambda n, t=step_task: prog.advance(t, n))
            result.trained.append(seed)
            prog.remove_task(step_task)
            prog.advance(seeds_task)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class SweepInputs:
    """What every seed of one sweep shares: the split, its token ids (with the frozen layers'
    cache when `freeze_layers`), the training rows, the device."""

    split: Split
    classes: list[str]
    everything: Inputs
    train: Inputs
    pad_id: int
    device: torch.device


def _sweep_inputs(run: Run, cfg: StudyConfig, prog) -> SweepInputs:
    split, classes = run.split(), run.classes()
    encoder = load_encoder(run.path)
    enc = encoder.tokenizer(split.texts, truncation=True, max_length=cfg.corpus.max_tokens)["input_ids"]
    everything = Inputs(
        ids=[encoder.map_ids(torch.tensor(x, dtype=torch.long)) for x in enc], labels=split.label_ids.astype(np.int64)
    )
    pad_id = encoder.tokenizer.pad_token_id
    device = resolve_device(cfg.train.device)
    k = cfg.model.freeze_layers
    if k:  # the frozen lower layers are the same for every head: any init seed will do
        probe = init_classifier(run.path, classes, 0).to(device)
        if not supports_split(probe):
            raise StablexError(
                f"[model] freeze_layers = {k}: not supported for model type "
                f"{probe.config.model_type!r}; use freeze_layers = 0"
            )
        n_layers = len(probe.base_model.encoder.layer)
        if k > n_layers // 2:
            raise StablexError(f"[model] freeze_layers = {k}: at most half of the {n_layers} layers may be frozen")
        task = prog.add_task("cache frozen layers", total=len(everything))
        cache_lower(probe, everything, k, pad_id, cfg.train.eval_batch_size, tick=lambda n: prog.advance(task, n))
        del probe
    idx = split.indices("train")
    train = Inputs(
        ids=[everything.ids[i] for i in idx],
        labels=everything.labels[idx],
        cached=None if everything.cached is None else [everything.cached[i] for i in idx],
    )
    return SweepInputs(split, classes, everything, train, pad_id, device)


def _train_seed(run: Run, cfg: StudyConfig, data: SweepInputs, seed: int, tick) -> None:
    """Train, predict every text and write seeds/<seed>/ (metrics.json last: it marks the seed complete)."""
    plan, group = plan_seed(cfg.train, seed)
    k, split = cfg.model.freeze_layers, data.split
    model = init_classifier(run.path, data.classes, plan.init_seed).to(data.device)
    configure_trainable(model, k, cfg.model.freeze_embeddings)
    outcome = fit(model, data.train, plan, cfg.train, k, data.pad_id, tick=tick)
    t_pred = time.perf_counter()  # every text of the split; frozen layers come from the shared cache
    precision = predict_precision(cfg.train)
    logits = predict(model, data.everything, k, data.pad_id, cfg.train.eval_batch_size, precision)
    predict_seconds = time.perf_counter() - t_pred
    model_bytes = 0
    if cfg.model.keep_models:
        model_bytes = save_trained(model, run.seed_weights_path(seed).parent, cfg.model.save_dtype)
    write_parquet(run.seed_predictions_path(seed), _predictions_table(split, logits))
    per_split = split_metrics(split, logits)
    SeedMetrics(
        **plan.to_dict(),
        group=group,
        bootstrap=cfg.train.bootstrap,
        accuracy={s: m["accuracy"] for s, m in per_split.items()},
        macro_f1={s: m["macro_f1"] for s, m in per_split.items()},
        loss={s: m["loss"] for s, m in per_split.items()},
        n={s: m["n"] for s, m in per_split.items()},
        final_train_loss=outcome.final_loss,
        n_steps=outcome.n_steps,
        train_seconds=round(outcome.train_seconds, 3),
        predict_seconds=round(predict_seconds, 3),
        predict_precision=precision,
        model_bytes=model_bytes,
        threads=torch.get_num_threads(),
        device=str(data.device),
    ).write(run.seed_metrics_path(seed))
