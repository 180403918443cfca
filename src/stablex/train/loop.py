"""Fine-tuning one seed: the study's optimiser, separate random sources, batched by length."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from stablex.config import TrainConfig
from stablex.train.layers import lower_states, upper_logits
from stablex.train.seeds import SeedPlan, bootstrap_indices

BUCKET = 50  # batches per length-sorted bucket: little padding, order still random


@dataclass
class Inputs:
    """Token ids per text (unpadded) and, when lower layers are frozen, their cached output."""

    ids: list[torch.Tensor]
    labels: np.ndarray
    cached: list[torch.Tensor] | None = None  # [len_i, H] per text

    def __len__(self) -> int:
        return len(self.ids)


def batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled order -> length-sorted buckets -> batches, then the batches shuffled."""
    out: list[np.ndarray] = []
    for start in range(0, len(order), batch_size * BUCKET):
        chunk = order[start : start + batch_size * BUCKET]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [out[i] for i in rng.permutation(len(out))]


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(seqs: list[torch.Tensor], value: float | int) -> tuple[torch.Tensor, torch.Tensor]:
    lens = [s.shape[0] for s in seqs]
    T = max(lens)
    out = seqs[0].new_full((len(seqs), T, *seqs[0].shape[1:]), value)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = 1
    return out, mask


def device_of(model) -> torch.device:
    return next(model.parameters()).device


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 in hardware (emulated bfloat16 is slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_precision(cfg: TrainConfig) -> str:
    if cfg.precision == "auto":
        return "bfloat16" if native_bfloat16(resolve_device(cfg.device)) else "float32"
    return cfg.precision


def forward(model, data: Inputs, idx: np.ndarray, k: int, pad_id: int) -> torch.Tensor:
    dev = device_of(model)
    if data.cached is not None:
        hidden, mask = _pad([data.cached[i] for i in idx], 0.0)
        return upper_logits(model, hidden.to(dev), mask.to(dev), k)
    ids, mask = _pad([data.ids[i] for i in idx], pad_id)
    return model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits


def cache_lower(
    model, data: Inputs, k: int, pad_id: int, batch_size: int, tick: Callable[[int], None] | None = None
) -> None:
    lengths = np.array([len(x) for x in data.ids])
    data.cached = [None] * len(data)  # type: ignore[list-item]
    for idx in eval_batches(lengths, batch_size):
        ids, mask = _pad([data.ids[i] for i in idx], pad_id)
        dev = device_of(model)
        hidden = lower_states(model, ids.to(dev), mask.to(dev), k)
        for row, i in enumerate(idx):
            data.cached[i] = hidden[row, : lengths[i]].cpu().clone()
        if tick:
            tick(len(idx))


def configure_trainable(model, freeze_layers: int, freeze_embeddings: bool) -> None:
    from stablex.train.layers import backbone

    base = backbone(model)
    if freeze_layers or freeze_embeddings:
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
    for layer in base.encoder.layer[:freeze_layers]:
        for p in layer.parameters():
            p.requires_grad_(False)


@dataclass
class TrainOutcome:
    train_seconds: float
    n_steps: int
    final_loss: float


def fit(
    model,
    data: Inputs,
    plan: SeedPlan,
    cfg: TrainConfig,
    freeze_layers: int,
    pad_id: int,
    tick: Callable[[int], None] | None = None,
) -> TrainOutcome:
    """Train in place. Data order comes from order_seed, dropout masks from dropout_seed (drawn
    from torch's global generator, which is saved before and restored after)."""
    dev = device_of(model)
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        return _fit(model, data, plan, cfg, freeze_layers, pad_id, tick)


def _fit(
    model,
    data: Inputs,
    plan: SeedPlan,
    cfg: TrainConfig,
    freeze_layers: int,
    pad_id: int,
    tick: Callable[[int], None] | None,
) -> TrainOutcome:
    from transformers import get_linear_schedule_with_warmup

    rows = np.arange(len(data))
    if cfg.bootstrap:
        rows = bootstrap_indices(len(data), plan.data_seed)
    lengths = np.array([len(x) for x in data.ids])
    order_rng = np.random.default_rng(plan.order_seed)
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    # the fused kernel (as HF Trainer's default, adamw_torch_fused): one pass over each tensor
    # instead of a dozen foreach sweeps; it matters with a 96 M-row embedding matrix
    fused = device_of(model).type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=fused or None)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    torch.manual_seed(plan.dropout_seed)  # the only torch randomness left in training: dropout
    model.train()
    if freeze_layers:
        # Frozen layers run from the cache; keep them in eval mode for consistency.
        from stablex.train.layers import backbone

        backbone(model).embeddings.eval()
        for layer in backbone(model).encoder.layer[:freeze_layers]:
            layer.eval()
    labels = torch.from_numpy(data.labels).to(device_of(model))
    start = time.perf_counter()
    loss_value = float("nan")
    # mixed precision: the steps' products in bfloat16, the weights and their updates in float32
    autocast = torch.autocast(device_of(model).type, dtype=torch.bfloat16, enabled=resolve_precision(cfg) == "bfloat16")
    for _ in range(cfg.epochs):
        for idx in batches(order_rng.permutation(rows), lengths, cfg.batch_size, order_rng):
            with autocast:
                logits = forward(model, data, idx, freeze_layers, pad_id)
            loss = F.cross_entropy(logits.float(), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            loss_value = float(loss.detach())
            if tick:
                tick(1)
    model.eval()
    return TrainOutcome(time.perf_counter() - start, total, loss_value)


def predict_precision(cfg: TrainConfig) -> str:
    """The precision of a seed's predictions: the training precision, or float32 when
    `[train] predict_precision = "float32"` (the runs made before the option)."""
    return "float32" if cfg.predict_precision == "float32" else resolve_precision(cfg)


@torch.no_grad()
def predict(
    model, data: Inputs, freeze_layers: int, pad_id: int, batch_size: int, precision: str = "float32"
) -> np.ndarray:
    """Logits [N, C] (float32) in the data's order. precision "bfloat16": the layers run under
    bfloat16 autocast, as in training (the frozen layers' cache itself is float32)."""
    model.eval()
    lengths = np.array([len(x) for x in data.ids])
    out = None
    autocast = torch.autocast(device_of(model).type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
    for idx in eval_batches(lengths, batch_size):
        with autocast:
            logits = forward(model, data, idx, freeze_layers, pad_id)
        logits = logits.float().cpu().numpy()
        if out is None:
            out = np.zeros((len(data), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    return out
