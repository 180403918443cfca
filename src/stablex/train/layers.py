"""Running a BERT-family classifier in two halves, so frozen lower layers are computed once.

With the embeddings and the lower `k` encoder layers frozen (and their dropout off), their
output is the same for every seed and epoch: it is computed once per text and cached; each
training step then runs only the upper layers and the head.
"""

from __future__ import annotations

import torch
from transformers.masking_utils import create_bidirectional_mask


def backbone(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, model.base_model_prefix)


def supports_split(model: torch.nn.Module) -> bool:
    """BERT-style (pooler + classifier) and RoBERTa-style (classifier on <s>) heads."""
    base = backbone(model)
    return (
        hasattr(base, "embeddings")
        and hasattr(base, "encoder")
        and hasattr(base.encoder, "layer")
        and model.config.model_type in ("bert", "roberta", "xlm-roberta", "camembert")
    )


def _mask(model, hidden: torch.Tensor, attention_mask: torch.Tensor):
    return create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=attention_mask)


@torch.no_grad()
def lower_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, k: int) -> torch.Tensor:
    """Hidden states after the embeddings and the first `k` layers (eval mode: no dropout)."""
    base = backbone(model)
    was_training = base.training
    base.eval()
    hidden = base.embeddings(input_ids=input_ids)
    mask = _mask(model, hidden, attention_mask)
    for layer in base.encoder.layer[:k]:
        hidden = layer(hidden, attention_mask=mask)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    base.train(was_training)
    return hidden


def upper_logits(model, hidden: torch.Tensor, attention_mask: torch.Tensor, k: int) -> torch.Tensor:
    """Layers k.. and the classification head, from cached lower states."""
    base = backbone(model)
    mask = _mask(model, hidden, attention_mask)
    for layer in base.encoder.layer[k:]:
        hidden = layer(hidden, attention_mask=mask)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    if model.config.model_type == "bert":
        pooled = base.pooler(hidden)
        return model.classifier(model.dropout(pooled))
    return model.classifier(hidden)
