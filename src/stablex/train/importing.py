"""`stablex import`: N classifiers fine-tuned elsewhere become the seeds of a run directory.

An imported seed is written exactly where and how a trained one is (docs/run-directory.md):
`seeds/<n>/model/model.safetensors` over the run's `base/`, `predictions.parquet`,
`metrics.json` last. Every later stage (models, explain, faithfulness, analyze, features,
hybrid, report) therefore reads it through the same code (`models.classifier.load_seed_model`)
and cannot tell it apart, except by what the records say: the manifest's `imported` block
(each checkpoint's path, sha256, config.json fields, label order) and `"imported": true` with
no per-source seeds in the seed's metrics.json, so that the report states that the seeds'
random sources are unknown instead of claiming a source design or a protocol.

Order: everything is checked (study, checkpoints, corpus, split, positions) before the run
directory is touched; a failure while writing removes what this call made.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from stablex.config import StudyConfig
from stablex.data.corpus import load_corpus
from stablex.data.split import make_split
from stablex.errors import StablexError
from stablex.io import atomic_dir, write_json, write_parquet
from stablex.ledger import LEDGER
from stablex.models.classifier import assemble_seed, init_classifier, load_encoder, prepare_base, token_positions
from stablex.models.imported import Checkpoint, check_checkpoints, load_aligned, read_checkpoint
from stablex.models.resolve import ResolvedModel
from stablex.records import SeedMetrics
from stablex.rundir import SEED_WEIGHTS, Run, clear_run, lock_run, write_run_records
from stablex.runtime import torch_threads
from stablex.train.loop import Inputs, predict
from stablex.train.sweep import _predictions_table, split_metrics

IMPORT_STAMP = "stablex-model.json"


@dataclass
class ImportResult:
    run_dir: Path
    seeds: list[int] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    accuracy: dict[int, float] = field(default_factory=dict)  # test accuracy per seed
    stored_tensors: dict[int, int] = field(default_factory=dict)  # tensors each seed stores over base/
    seconds: float = 0.0


def import_study(cfg: StudyConfig, n_seeds: int) -> StudyConfig:
    """The study an imported run records: the checkpoints' seeds 0..N-1, nothing to train, the
    vocabulary whole (each seed's embedding is its own), no frozen layers."""
    cfg = cfg.replace("train", seeds=list(range(n_seeds)), groups=[], precision="float32")
    return cfg.replace("model", trim_vocab=False, freeze_layers=0, freeze_embeddings=False)


def _check_out(run: Run, force: bool) -> None:
    if run.path.exists() and not run.path.is_dir():
        raise StablexError(f"RUN {run.path}: exists and is not a directory")
    if run.path.exists() and any(run.path.iterdir()):
        if not run.manifest_path.exists():
            raise StablexError(f"RUN {run.path}: exists, is not empty and is not a stablex run; choose another RUN")
        if not force:
            raise StablexError(f"RUN {run.path}: already a run; use another RUN, or --force to replace its results")


def _stored_state(model: torch.nn.Module, reference: torch.nn.Module, base_names: set[str]) -> dict[str, torch.Tensor]:
    """The tensors of `model` a seed must store over base/: every one base/ does not hold (the head,
    BERT's pooler) and every encoder tensor that differs from base/'s (compared exactly). Seeds that
    share checkpoint 0's encoder store their head only; any other seed keeps its whole weights."""
    ref = dict(reference.named_parameters())
    return {
        n: p.detach().cpu().contiguous()
        for n, p in model.named_parameters()
        if n not in base_names or not torch.equal(p.detach().cpu(), ref[n].detach().cpu())
    }


def _base_names(run: Run, reference: torch.nn.Module) -> set[str]:
    """The classifier's parameter names that base/model.safetensors provides."""
    from safetensors import safe_open

    with safe_open(str(run.base_dir / SEED_WEIGHTS), framework="pt") as f:
        keys = set(f.keys())
    prefix = reference.base_model_prefix
    return {n for n, _ in reference.named_parameters() if n.removeprefix(f"{prefix}.") in keys}


def _write_seed(
    run: Run,
    cfg: StudyConfig,
    seed: int,
    ckpt: Checkpoint,
    classes: list[str],
    data: Inputs,
    pad_id: int,
    split,
    reference: torch.nn.Module,
    base_names: set[str],
) -> tuple[float, int]:
    model = load_aligned(ckpt, classes)
    state = _stored_state(model, reference, base_names)
    del model
    with atomic_dir(run.seed_weights_path(seed).parent) as tmp:
        save_file(state, str(tmp / SEED_WEIGHTS), metadata={"dtype": "float32"})
        write_json(
            tmp / IMPORT_STAMP,
            {
                "base": "../../../base",
                "dtype": "float32",
                "imported": str(ckpt.path),
                "n_params": sum(v.numel() for v in state.values()),
                "n_tensors": len(state),
            },
        )
    # predictions from the seed exactly as every later stage loads it
    model = assemble_seed(run.path, classes, 0, run.seed_weights_path(seed), seed)
    t = time.perf_counter()
    logits = predict(model, data, 0, pad_id, cfg.train.eval_batch_size)
    seconds = time.perf_counter() - t
    write_parquet(run.seed_predictions_path(seed), _predictions_table(split, logits))
    per_split = split_metrics(split, logits)
    SeedMetrics(
        seed=seed,
        imported=True,
        checkpoint=str(ckpt.path),
        # the random sources of a model trained elsewhere are unknown: none is claimed (all None)
        bootstrap=False,
        accuracy={s: m["accuracy"] for s, m in per_split.items()},
        macro_f1={s: m["macro_f1"] for s, m in per_split.items()},
        loss={s: m["loss"] for s, m in per_split.items()},
        n={s: m["n"] for s, m in per_split.items()},
        predict_seconds=round(seconds, 3),
        predict_precision="float32",  # an imported checkpoint is predicted as it was given
        model_bytes=run.seed_weights_path(seed).stat().st_size,
        stored_tensors=len(state),
        threads=torch.get_num_threads(),
        device="cpu",
    ).write(run.seed_metrics_path(seed))
    return per_split["test"]["accuracy"], len(state)


def import_models(
    cfg: StudyConfig,
    out: str | Path,
    checkpoints: list[str | Path],
    tokenizer: str | Path | None = None,
    force: bool = False,
) -> ImportResult:
    """Make RUN/ from fine-tuned HF sequence-classification checkpoints, seed n = checkpoints[n]."""
    started = time.perf_counter()
    run = Run(Path(out))
    ckpts = [read_checkpoint(c, tokenizer) for c in checkpoints] if checkpoints else []
    if not ckpts:
        raise StablexError("--checkpoint: give at least one checkpoint directory")
    cfg = import_study(cfg, len(ckpts))
    cfg = cfg.replace("model", name=str(ckpts[0].path))
    _check_out(run, force)
    corpus = load_corpus(cfg.corpus)
    classes = check_checkpoints(ckpts, corpus.classes, cfg.corpus.path)
    split = make_split(corpus, cfg.corpus)
    limit = token_positions(ckpts[0].config)
    if cfg.corpus.max_tokens > limit:
        raise StablexError(
            f"[corpus] max_tokens = {cfg.corpus.max_tokens}: must be <= {limit}, the positions of "
            f"--checkpoint {ckpts[0].path}"
        )
    for c in ckpts:  # the weights load as the checkpoint's class (none missing): before anything is written
        load_aligned(c, classes)

    created = not run.path.exists()
    with lock_run(run.path, doing="importing into"):  # one writer per run, as for every stage
        if not created:
            clear_run(run)
        run.path.mkdir(parents=True, exist_ok=True)
        (run.path / LEDGER).mkdir(exist_ok=True)  # the run ledger records every artefact written from here
        result = ImportResult(run_dir=run.path, checkpoints=[str(c.path) for c in ckpts])
        try:
            model_facts = {"name": cfg.model.name, "path": str(ckpts[0].path), "source": "import"}
            # base/ = checkpoint 0's encoder and the shared tokenizer, by the trained runs' own code
            model_facts["base"] = prepare_base(
                ResolvedModel(cfg.model.name, ckpts[0].path, "import"),
                split.texts,
                run.path,
                trim_vocab=False,
                max_tokens=cfg.corpus.max_tokens,
                tokenizer_path=ckpts[0].tokenizer_dir,
            )
            corpus_facts = {
                "path": corpus.source,
                "sha256": corpus.sha256,
                "rows": corpus.n_rows,
                "dropped_empty": corpus.n_dropped_empty,
                "dropped_other_labels": corpus.n_dropped_other,
                "text": cfg.corpus.text,
                "label": cfg.corpus.label,
                "split_column": cfg.corpus.split_column,
            }
            imported = {
                "n_checkpoints": len(ckpts),
                "tokenizer_vocab_sha256": ckpts[0].vocab_sha256,
                "random_sources": "unknown",
                "checkpoints": [dict(seed=i, **c.record(classes)) for i, c in enumerate(ckpts)],
            }
            write_run_records(run, cfg, split, corpus_facts, model_facts, extra={"imported": imported})
            encoder = load_encoder(run.path)
            ids = encoder.tokenizer(split.texts, truncation=True, max_length=cfg.corpus.max_tokens)["input_ids"]
            data = Inputs(ids=[torch.tensor(x, dtype=torch.long) for x in ids], labels=split.label_ids.astype(np.int64))
            with torch_threads(cfg.train.threads or os.cpu_count() or 1):
                reference = init_classifier(run.path, classes, 0)
                base_names = _base_names(run, reference)
                for seed, c in enumerate(ckpts):
                    acc, n = _write_seed(
                        run, cfg, seed, c, classes, data, encoder.tokenizer.pad_token_id, split, reference, base_names
                    )
                    result.seeds.append(seed)
                    result.accuracy[seed] = acc
                    result.stored_tensors[seed] = n
        except BaseException:
            if created:
                shutil.rmtree(run.path, ignore_errors=True)
            else:
                clear_run(run)
            raise
    result.seconds = time.perf_counter() - started
    return result
