"""Fine-tuned sequence classifiers trained elsewhere: reading, checking and aligning them.

`stablex import` turns N checkpoints saved with `save_pretrained` into the seeds of a run.
Everything a later stage assumes about the seeds of one run is checked here, on the
checkpoints' own files, before the run directory is touched: they are sequence classifiers
of one supported family and one architecture (same shapes), they share one tokenizer (the
same vocabulary, by hash), and one label set (by name: a checkpoint whose `id2label` orders
the classes otherwise is re-ordered, not mislabelled), which equals the corpus's classes.

Nothing assumes a shared pretrained base: a seed keeps every tensor that differs from the
run's base/ (checkpoint 0's encoder), so MultiBERTs-style seeds that differ by pretraining
keep their whole weights, and seeds fine-tuned on a frozen encoder store only their head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stablex.errors import StablexError
from stablex.io import sha256_file, sha256_json
from stablex.models.resolve import quiet_transformers

# the families stablex's explanation methods read (explain/forward.py, train/layers.py)
FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert")
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
# config fields that fix the shapes of the weights: two checkpoints of one run agree on them
SHAPE_FIELDS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "position_embedding_type",
)
MANIFEST_FIELDS = (
    "architectures",
    "model_type",
    "id2label",
    "label2id",
    "num_labels",
    "problem_type",
    "hidden_size",
    "num_hidden_layers",
    "vocab_size",
    "max_position_embeddings",
    "_name_or_path",
)


@dataclass
class Checkpoint:
    """One checkpoint's facts, read from its files without loading its weights."""

    path: Path
    config: Any  # transformers PretrainedConfig
    labels: list[str]  # id2label in the checkpoint's own order
    weight_files: dict[str, str]  # file name -> sha256
    tokenizer_dir: Path
    vocab_sha256: str
    fields: dict = field(default_factory=dict)  # config.json fields for the manifest

    @property
    def architecture(self) -> str:
        return (self.config.architectures or ["?"])[0]

    def shape(self) -> dict:
        return {k: getattr(self.config, k, None) for k in SHAPE_FIELDS}

    def record(self, classes: list[str]) -> dict:
        """What the manifest says about this checkpoint (docs/import.md)."""
        return {
            "path": str(self.path),
            "weights": self.weight_files,
            "sha256": next(iter(self.weight_files.values())) if len(self.weight_files) == 1 else None,
            "architecture": self.architecture,
            "tokenizer": str(self.tokenizer_dir),
            "vocab_sha256": self.vocab_sha256,
            "config": self.fields,
            "label_order": self.labels,
            "reordered": self.labels != classes,
        }


def vocab_hash(tokenizer) -> str:
    """The tokenizer's identity for this purpose: its vocabulary (piece -> id) and its special tokens."""
    return sha256_json(
        {
            "vocab": sorted(tokenizer.get_vocab().items()),
            "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        }
    )


def _labels(config, path: Path) -> list[str]:
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise StablexError(f"--checkpoint {path}: config.json id2label has ids {sorted(id2label)}, not 0..N-1")
    labels = [id2label[i] for i in range(len(id2label))]
    if len(set(labels)) != len(labels):
        raise StablexError(f"--checkpoint {path}: config.json id2label names a class twice ({labels})")
    return labels


@quiet_transformers()
def read_checkpoint(path: str | Path, tokenizer: str | Path | None = None) -> Checkpoint:
    """The facts of one checkpoint directory, each problem one error naming it."""
    from transformers import AutoConfig, AutoTokenizer

    path = Path(path).expanduser()
    where = f"--checkpoint {path}"
    if not (path / "config.json").is_file():
        raise StablexError(f"{where}: no config.json (not a save_pretrained checkpoint directory)")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - transformers raises several kinds for a bad config
        raise StablexError(f"{where}: config.json cannot be read ({str(e).splitlines()[0]})") from None
    arch = (config.architectures or [""])[0]
    if not arch.endswith("ForSequenceClassification"):
        raise StablexError(
            f"{where}: architecture {arch or 'unknown'!r} is not a sequence classifier "
            f"(config.json architectures must name a *ForSequenceClassification)"
        )
    if config.model_type not in FAMILIES:
        raise StablexError(
            f"{where}: model_type {config.model_type!r} is not supported (supported: {', '.join(FAMILIES)})"
        )
    if config.problem_type not in (None, "single_label_classification"):
        raise StablexError(f"{where}: problem_type {config.problem_type!r}; stablex explains single-label classifiers")
    weights = {name: sha256_file(path / name) for name in WEIGHT_FILES if (path / name).is_file()}
    if not weights:
        raise StablexError(f"{where}: no weights ({' or '.join(WEIGHT_FILES[:2])})")
    tok_dir = path
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception:  # noqa: BLE001 - no tokenizer files in the checkpoint
        if tokenizer is None:
            raise StablexError(
                f"{where}: no tokenizer files; save the tokenizer with the model or give --tokenizer DIR"
            ) from None
        tok_dir = Path(tokenizer).expanduser()
        try:
            tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise StablexError(f"--tokenizer {tok_dir}: cannot be read ({str(e).splitlines()[0]})") from None
    if not tok.is_fast:
        raise StablexError(f"{where}: its tokenizer has no fast (Rust) version; stablex needs character offsets")
    fields = {k: getattr(config, k, None) for k in MANIFEST_FIELDS}
    fields["id2label"] = {str(k): v for k, v in (config.id2label or {}).items()}
    return Checkpoint(
        path=path.resolve(),
        config=config,
        labels=_labels(config, path),
        weight_files=weights,
        tokenizer_dir=tok_dir.resolve(),
        vocab_sha256=vocab_hash(tok),
        fields=fields,
    )


def check_checkpoints(checkpoints: list[Checkpoint], corpus_classes: list[str], corpus: str) -> list[str]:
    """Refuse checkpoints that cannot be seeds of one run; returns the run's classes (the corpus's)."""
    if not checkpoints:
        raise StablexError("--checkpoint: give at least one checkpoint directory")
    seen: dict[Path, int] = {}
    for i, c in enumerate(checkpoints):
        if c.path in seen:
            raise StablexError(f"--checkpoint {c.path}: given twice (seeds {seen[c.path]} and {i})")
        seen[c.path] = i
    first = checkpoints[0]
    for c in checkpoints[1:]:
        where = f"--checkpoint {c.path}"
        if c.architecture != first.architecture:
            raise StablexError(
                f"{where}: architecture {c.architecture} differs from {first.architecture} "
                f"(--checkpoint {first.path}); the seeds of a run share one architecture"
            )
        diff = [k for k, v in c.shape().items() if v != first.shape()[k]]
        if diff:
            k = diff[0]
            raise StablexError(
                f"{where}: {k} = {c.shape()[k]!r} differs from {first.shape()[k]!r} "
                f"(--checkpoint {first.path}); the seeds of a run share one architecture"
            )
        if len(c.labels) != len(first.labels):
            raise StablexError(
                f"{where}: {len(c.labels)} labels ({', '.join(c.labels)}) where --checkpoint "
                f"{first.path} has {len(first.labels)} ({', '.join(first.labels)})"
            )
        if set(c.labels) != set(first.labels):
            raise StablexError(
                f"{where}: labels {sorted(c.labels)} differ from {sorted(first.labels)} "
                f"(--checkpoint {first.path}); the label mapping is matched by name"
            )
        if c.vocab_sha256 != first.vocab_sha256:
            raise StablexError(
                f"{where}: its tokenizer ({c.tokenizer_dir}) has another vocabulary than "
                f"--checkpoint {first.path}'s (vocabulary sha256 {c.vocab_sha256[:12]} vs "
                f"{first.vocab_sha256[:12]}); the seeds of a run share one tokenizer"
            )
    missing = [c for c in corpus_classes if c not in first.labels]
    if missing:
        raise StablexError(
            f"{corpus}: label(s) {', '.join(map(repr, missing))} are not among the checkpoints' "
            f"labels ({', '.join(first.labels)}; config.json id2label must name the classes)"
        )
    extra = [c for c in first.labels if c not in corpus_classes]
    if extra:
        raise StablexError(
            f"--checkpoint {first.path}: label(s) {', '.join(map(repr, extra))} never occur in "
            f"{corpus}; every class of the models must be a class of the corpus"
        )
    return list(corpus_classes)


def output_layer(model: torch.nn.Module) -> torch.nn.Linear:
    """The head's last linear layer (one row per class): BERT's `classifier`, RoBERTa's `classifier.out_proj`."""
    n = model.config.num_labels
    found = [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear) and m.out_features == n]
    if len(found) != 1:
        raise StablexError(f"{type(model).__name__}: cannot tell the output layer of its head")
    return found[0]


@quiet_transformers()
def load_aligned(checkpoint: Checkpoint, classes: list[str]) -> torch.nn.Module:
    """The checkpoint's classifier (transformers' own loading), its output rows re-ordered to
    `classes` and its label mapping rewritten to match: logit i is then class `classes[i]`."""
    from transformers import AutoModelForSequenceClassification

    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            checkpoint.path, local_files_only=True, output_loading_info=True, dtype=torch.float32
        )
    except Exception as e:  # noqa: BLE001 - a damaged or mismatched weight file
        raise StablexError(
            f"--checkpoint {checkpoint.path}: the weights cannot be loaded ({str(e).strip().splitlines()[0][:200]})"
        ) from None
    missing = sorted(k for k in info.get("missing_keys", []) if not k.endswith(("position_ids", "token_type_ids")))
    mismatched = info.get("mismatched_keys", [])
    if missing or mismatched:
        what = missing[:3] or [m[0] for m in mismatched[:3]]
        raise StablexError(
            f"--checkpoint {checkpoint.path}: weights missing or of another shape ({what}); "
            f"not a fine-tuned {checkpoint.architecture}"
        )
    order = [checkpoint.labels.index(c) for c in classes]
    if order != list(range(len(classes))):
        out = output_layer(model)
        with torch.no_grad():
            out.weight.copy_(out.weight[order].clone())
            if out.bias is not None:
                out.bias.copy_(out.bias[order].clone())
    model.config.id2label = dict(enumerate(classes))
    model.config.label2id = {c: i for i, c in enumerate(classes)}
    model.eval()
    return model
