"""Rewrite a BERT-shaped encoder (e5-small) as an XLM-R- or CamemBERT-shaped local checkpoint.

The study's model, camembert-base, is a RoBERTa: the same encoder blocks as BERT, but
positions start after the padding index (pad_id + 1, with padding tokens at pad_id), no
pooler, and a classification head on <s> (dense + tanh + out_proj) instead of BERT's pooler
and classifier. No model hub is reachable here, so the paper's architecture is exercised on
real weights by rewriting e5-small into it: the position table is shifted by the padding
offset (row pad_id + 1 + i holds BERT's position i; rows 0..pad_id are zero), every other
tensor is copied as is, and the pooler is dropped. The encoder's hidden states on real
tokens are then those of the original (tests/test_convert.py checks it to 1e-5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from stablex.errors import StablexError
from stablex.io import atomic_dir, sha256_file
from stablex.models.resolve import quiet_transformers, resolve_model

ARCHS = ("xlm-roberta", "camembert")
STAMP = "stablex-convert.json"


@dataclass(frozen=True)
class Converted:
    path: Path
    arch: str
    source: str
    position_offset: int


def _target_classes(arch: str):
    from transformers import CamembertConfig, CamembertModel, XLMRobertaConfig, XLMRobertaModel

    return {"xlm-roberta": (XLMRobertaConfig, XLMRobertaModel), "camembert": (CamembertConfig, CamembertModel)}[arch]


def _config(src, arch: str, pad: int, bos: int, eos: int):
    """The target config: BERT's sizes, positions grown by the padding offset."""
    cfg_cls, _ = _target_classes(arch)
    keep = (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "type_vocab_size",
        "initializer_range",
        "layer_norm_eps",
    )
    cfg = cfg_cls(
        **{k: getattr(src, k) for k in keep},
        max_position_embeddings=src.max_position_embeddings + pad + 1,
        pad_token_id=pad,
        bos_token_id=bos,
        eos_token_id=eos,
    )
    cfg.architectures = [_target_classes(arch)[1].__name__]
    return cfg


def shifted_state(state: dict[str, torch.Tensor], pad: int) -> dict[str, torch.Tensor]:
    """BERT's encoder tensors under RoBERTa's names (the same), positions shifted by pad + 1."""
    state = {
        k: v.contiguous()
        for k, v in state.items()
        if not k.startswith("pooler.") and not k.endswith(("position_ids", "token_type_ids"))
    }
    pos = state["embeddings.position_embeddings.weight"]
    shifted = torch.zeros(pos.shape[0] + pad + 1, pos.shape[1], dtype=pos.dtype)
    shifted[pad + 1 :] = pos
    state["embeddings.position_embeddings.weight"] = shifted
    return state


def _tokenizer(tok, arch: str):
    """The same tokenizer; for CamemBERT, as CamembertTokenizerFast where it can wrap it."""
    if arch != "camembert":
        return tok
    try:
        from transformers import CamembertTokenizerFast

        return CamembertTokenizerFast(
            tokenizer_object=tok.backend_tokenizer,
            bos_token=tok.bos_token,
            eos_token=tok.eos_token,
            sep_token=tok.sep_token,
            cls_token=tok.cls_token,
            unk_token=tok.unk_token,
            pad_token=tok.pad_token,
            mask_token=tok.mask_token,
            model_max_length=tok.model_max_length,
        )
    except Exception:  # noqa: BLE001 - a tokenizer class that cannot wrap it: keep the original class
        return tok


def _check_names(state: dict[str, torch.Tensor], cfg, arch: str) -> None:
    """The tensors must be exactly what the target class expects (built on the meta device: free)."""
    with torch.device("meta"):
        want = _target_classes(arch)[1](cfg, add_pooling_layer=False).state_dict()
    expected = {k for k in want if not k.endswith(("position_ids", "token_type_ids"))}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    bad = [k for k in expected & set(state) if tuple(want[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or bad:
        raise StablexError(
            f"conversion to {arch}: missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {bad[:3]}"
        )


@quiet_transformers()
def convert(source: str, arch: str, out: str | Path, force: bool = False) -> Converted:
    """Write `source` (a BERT-shaped checkpoint; 'e5-small' by default) as an `arch` checkpoint at `out`."""
    if arch not in ARCHS:
        raise StablexError(f"option --arch {arch!r}: choose one of {', '.join(ARCHS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise StablexError(f"--out {out}: exists and is not empty (use --force to replace it)")
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig, AutoTokenizer

    resolved = resolve_model(source)
    src_cfg = AutoConfig.from_pretrained(resolved.path, local_files_only=True)
    weights = resolved.path / "model.safetensors"
    if src_cfg.model_type != "bert" or not weights.exists():
        raise StablexError(
            f"source {source}: model_type {src_cfg.model_type!r}; only BERT-shaped checkpoints "
            f"in one model.safetensors are rewritten"
        )
    tok = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
    ids = {k: getattr(tok, f"{k}_token_id") for k in ("pad", "bos", "eos")}
    if any(v is None for v in ids.values()):
        raise StablexError(f"source {source}: its tokenizer lacks pad/bos/eos tokens, which RoBERTa needs")
    state = load_file(str(weights))
    if any(k.startswith("bert.") for k in state):  # saved from a *ForSequenceClassification: the encoder only
        state = {k[len("bert.") :]: v for k, v in state.items() if k.startswith("bert.")}
    state = shifted_state(state, ids["pad"])
    cfg = _config(src_cfg, arch, ids["pad"], ids["bos"], ids["eos"])
    _check_names(state, cfg, arch)
    with atomic_dir(out) as tmp:
        cfg.save_pretrained(tmp)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _tokenizer(tok, arch).save_pretrained(tmp)
        (tmp / STAMP).write_text(
            json.dumps(
                {
                    "source": source,
                    "source_path": str(resolved.path),
                    "arch": arch,
                    "position_offset": ids["pad"] + 1,
                    "pooler": "dropped",
                    "model_sha256": sha256_file(tmp / "model.safetensors"),
                },
                indent=2,
            )
        )
    return Converted(out, arch, source, ids["pad"] + 1)
