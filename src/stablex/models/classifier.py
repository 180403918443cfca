"""The per-run base checkpoint and the per-seed classifiers built on it.

`RUN/base/` holds the pretrained encoder once per run, with its vocabulary trimmed to the
pieces the corpus uses (most of a multilingual encoder's parameters are embedding rows no
French text needs). A seed stores only the weights it trained; loading it means loading the
base, initialising the head with the seed's `init_seed`, then overwriting what was trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from stablex.errors import StablexError
from stablex.io import atomic_dir, read_json, sha256_file
from stablex.models.resolve import ResolvedModel, quiet_transformers
from stablex.records import SeedMetrics
from stablex.rundir import SEED_WEIGHTS, Run

VOCAB_MAP = "vocab_map.npy"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Encoded:
    """A padded batch of texts, ids already mapped to the model's (possibly trimmed) vocabulary."""

    input_ids: torch.Tensor  # [B, T] long
    attention_mask: torch.Tensor  # [B, T] long
    offsets: np.ndarray  # [B, T, 2] int32, character offsets into each text; (0, 0) on special/pad
    special_tokens_mask: np.ndarray  # [B, T] bool (special or pad)
    lengths: np.ndarray = field(default=None)  # [B] tokens per text incl. specials

    def __len__(self) -> int:
        return self.input_ids.shape[0]


class TextEncoder:
    """The source tokenizer plus the id map into the trimmed embedding table."""

    def __init__(self, tokenizer, vocab_map: np.ndarray | None):
        self.tokenizer = tokenizer
        self.vocab_map = None if vocab_map is None else torch.from_numpy(vocab_map.astype(np.int64))

    def map_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return ids if self.vocab_map is None else self.vocab_map[ids]

    def lengths(self, texts: list[str], max_tokens: int) -> np.ndarray:
        """Tokens per text (specials included), for length-sorted batching without padding."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=max_tokens)
        return np.array([len(ids) for ids in enc["input_ids"]])

    def __call__(self, texts: list[str], max_tokens: int) -> Encoded:
        enc = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=max_tokens,
            padding=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )
        special = enc["special_tokens_mask"].numpy().astype(bool) | (enc["attention_mask"].numpy() == 0)
        offsets = enc["offset_mapping"].numpy().astype(np.int32)
        offsets[special] = 0
        return Encoded(
            input_ids=self.map_ids(enc["input_ids"]),
            attention_mask=enc["attention_mask"],
            offsets=offsets,
            special_tokens_mask=special,
            lengths=enc["attention_mask"].sum(1).numpy(),
        )


def _special_ids(tokenizer) -> list[int]:
    return sorted({int(i) for i in tokenizer.all_special_ids})


def token_positions(config) -> int:
    """Tokens per text an encoder can embed: RoBERTa-type models number positions from padding_idx + 1."""
    n = int(config.max_position_embeddings)
    if config.model_type in ("roberta", "xlm-roberta", "camembert"):
        n -= int(config.pad_token_id) + 1
    return n


@quiet_transformers()
def prepare_base(
    resolved: ResolvedModel,
    texts: list[str],
    run_dir: Path,
    trim_vocab: bool,
    max_tokens: int,
    tokenizer_path: Path | None = None,
) -> dict:
    """Write RUN/base/ (encoder weights + tokenizer [+ vocab map]); returns facts for the manifest.
    `tokenizer_path`: where the tokenizer lies when not beside the weights (an imported checkpoint)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    out = Run(run_dir).base_dir
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or resolved.path, local_files_only=True)
    config = AutoConfig.from_pretrained(resolved.path, local_files_only=True)
    limit = token_positions(config)
    if max_tokens > limit:
        raise StablexError(f"[corpus] max_tokens = {max_tokens}: must be <= {limit}, the positions of {resolved.name}")
    encoder = (
        AutoModel.from_pretrained(resolved.path, config=config, add_pooling_layer=False, local_files_only=True)
        if config.model_type in ("bert",)
        else AutoModel.from_pretrained(resolved.path, config=config, local_files_only=True)
    )
    full_vocab = encoder.get_input_embeddings().weight.shape[0]
    facts = {"vocab_size_source": int(full_vocab), "model_type": config.model_type}
    with atomic_dir(out) as tmp:
        if trim_vocab:
            ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
            used = np.unique(np.concatenate([np.asarray(x, dtype=np.int64) for x in ids]))
            # Keep the low ids that hold the usual specials (<s>, <pad>, </s>, <unk>) in place so
            # padding and position logic (RoBERTa's padding_idx) see the same values.
            low = max(
                i
                for i in (
                    tokenizer.bos_token_id,
                    tokenizer.pad_token_id,
                    tokenizer.eos_token_id,
                    tokenizer.unk_token_id,
                    tokenizer.cls_token_id,
                    tokenizer.sep_token_id,
                )
                if i is not None
            )
            keep = np.union1d(np.union1d(np.arange(low + 1), _special_ids(tokenizer)), used)
            vocab_map = np.full(full_vocab, -1, dtype=np.int64)
            vocab_map[keep] = np.arange(len(keep))
            vocab_map[vocab_map < 0] = vocab_map[tokenizer.unk_token_id]
            weight = encoder.get_input_embeddings().weight.data[torch.from_numpy(keep)].clone()
            new_emb = torch.nn.Embedding(len(keep), weight.shape[1], padding_idx=config.pad_token_id)
            new_emb.weight.data.copy_(weight)
            encoder.set_input_embeddings(new_emb)
            encoder.config.vocab_size = len(keep)
            np.save(tmp / VOCAB_MAP, vocab_map.astype(np.int32))
            facts["vocab_size"] = int(len(keep))
        else:
            facts["vocab_size"] = int(full_vocab)
        encoder.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    facts["sha256"] = sha256_file(out / "model.safetensors")
    return facts


@dataclass
class LoadedModel:
    model: torch.nn.Module  # an HF *ForSequenceClassification
    encoder: TextEncoder
    classes: list[str]

    def encode(self, texts: list[str], max_tokens: int) -> Encoded:
        return self.encoder(texts, max_tokens)


@quiet_transformers()
def load_encoder(run_dir: Path) -> TextEncoder:
    from transformers import AutoTokenizer

    base = Run(run_dir).base_dir
    vmap = base / VOCAB_MAP
    return TextEncoder(
        AutoTokenizer.from_pretrained(base, local_files_only=True), np.load(vmap) if vmap.exists() else None
    )


@quiet_transformers()
def init_classifier(run_dir: Path, classes: list[str], init_seed: int):
    """The base encoder with a fresh classification head drawn from `init_seed`."""
    from transformers import AutoModelForSequenceClassification

    base = Run(run_dir).base_dir
    kwargs = {
        "num_labels": len(classes),
        "id2label": dict(enumerate(classes)),
        "label2id": {c: i for i, c in enumerate(classes)},
    }
    with torch.random.fork_rng(devices=[]):  # the head's draw, without touching the caller's RNG
        torch.manual_seed(init_seed)
        return AutoModelForSequenceClassification.from_pretrained(base, local_files_only=True, **kwargs)


def save_trained(model: torch.nn.Module, out_dir: Path, dtype: str) -> int:
    """Store only the parameters that training changed (requires_grad); returns bytes written."""
    if dtype not in DTYPES:
        raise StablexError(f"[model] save_dtype = {dtype!r}: choose one of {sorted(DTYPES)}")
    state = {n: p.detach().cpu().to(DTYPES[dtype]).contiguous() for n, p in model.named_parameters() if p.requires_grad}
    with atomic_dir(out_dir) as tmp:
        save_file(state, str(tmp / SEED_WEIGHTS), metadata={"dtype": dtype})
        (tmp / "stablex-model.json").write_text(
            json.dumps({"base": "../../../base", "dtype": dtype, "n_params": sum(v.numel() for v in state.values())})
        )
    return (out_dir / SEED_WEIGHTS).stat().st_size


def load_seed_model(run_dir: Path, seed: int, encoder: TextEncoder | None = None) -> LoadedModel:
    """The classifier of one trained (or imported) seed, in eval mode, float32.

    `encoder`: the run's tokenizer already loaded (`load_encoder`), shared by the seeds, as
    reading a multilingual tokenizer costs seconds each time."""
    run = Run(run_dir)
    run_dir = run.path
    metrics_path, weights = run.seed_metrics_path(seed), run.seed_weights_path(seed)
    if not metrics_path.exists():
        raise StablexError(f"{run_dir}: seed {seed} is not trained (no {metrics_path.relative_to(run_dir)})")
    if not weights.exists():
        raise StablexError(f"{run_dir}: seed {seed} was trained with --no-keep-models; retrain it to explain it")
    classes = run.classes()
    metrics = SeedMetrics.from_dict(read_json(metrics_path), metrics_path)
    # an imported seed has no init_seed: every head weight it has is in its own file
    model = assemble_seed(run_dir, classes, metrics.init_seed or 0, weights, seed)
    return LoadedModel(model=model, encoder=encoder or load_encoder(run_dir), classes=classes)


def assemble_seed(run_dir: Path, classes: list[str], init_seed: int, weights: Path, seed: int) -> torch.nn.Module:
    """base/ + a fresh head from `init_seed`, overwritten by the tensors stored in `weights`."""
    model = init_classifier(run_dir, classes, init_seed)
    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises its own SafetensorError for a truncated file
        raise StablexError(
            f"{weights}: cannot be read ({e}); the file is damaged: delete "
            f"{weights.parent.parent.relative_to(run_dir)} and rerun `stablex train` to retrain seed {seed}"
        ) from None
    own = dict(model.named_parameters())
    unknown = [k for k in state if k not in own]
    if unknown:
        raise StablexError(f"{weights}: weights {unknown[:3]} do not belong to the base model")
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value.to(torch.float32))
    model.eval()
    return model
