"""stablex's methods against independent peers, on a real fine-tuned e5-small seed (Le Monde).

- gxi equals Captum's InputXGradient and ig Captum's IntegratedGradients (same [PAD]
  baseline, Gauss-Legendre, 16 steps: both sides share the step count, so the comparison
  does not depend on it), both read at the word embeddings;
- lrp's AttnLRP and CP-LRP rules equal a reference built here on the HF model itself, as LXT
  does it: its modules and attention function replaced by versions whose values are the
  model's and whose gradients follow the rules (LayerNorm's 1/std detached, GELU and tanh by
  the identity rule out/in, half the gradient to each operand of Q.K^T and A.V, the softmax
  plain (AttnLRP) or detached (CP-LRP)); relevance = word embedding x its gradient. Nothing
  here imports stablex.explain.forward. Both sides run in float64, so any difference beyond
  rounding is a difference in the rules.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stablex.explain.methods import get_method
from stablex.models.classifier import load_seed_model
from stablex.rundir import open_run

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def seed0(trained_run):
    """Seed 0 of the shared small run, with 12 test texts (padded: lengths differ)."""
    run, cfg = trained_run
    loaded = load_seed_model(run, 0)
    split = open_run(run).split()
    texts = [split.texts[i] for i in split.indices("test")[:12]]
    batch = loaded.encode(texts, int(cfg.corpus.max_tokens))
    assert batch.attention_mask.min() == 0
    return loaded.model, batch


def _forward(model):
    """Captum's forward; the mask goes in additional_forward_args so that Captum expands it with the steps."""
    return lambda x, mask: model(inputs_embeds=x, attention_mask=mask).logits


def _close(ours: torch.Tensor, peer: torch.Tensor) -> float:
    """Largest per-text max |difference| / max |relevance|."""
    ours, peer = ours.detach(), peer.detach()
    return float(((ours - peer).abs().amax(1) / peer.abs().amax(1)).max())


def test_gxi_equals_captum_input_x_gradient(seed0):
    model, b = seed0
    ours = get_method("gxi", model).attribute(b)
    word = model.get_input_embeddings()(b.input_ids).detach()
    peer = captum_attr.InputXGradient(_forward(model)).attribute(
        word, target=ours.target, additional_forward_args=(b.attention_mask,)
    )
    peer = peer.sum(-1) * b.attention_mask
    assert _close(ours.relevance, peer) < 1e-4
    assert peer.abs().max() > 0


def test_ig_equals_captum_integrated_gradients(seed0):
    model, b = seed0
    ours = get_method("ig", model, steps=16, internal_batch=96).attribute(b)  # 192 rows: 2 internal batches
    emb = model.get_input_embeddings()
    word = emb(b.input_ids).detach()
    special = torch.as_tensor(b.special_tokens_mask)[..., None]
    baseline = torch.where(special, word, emb.weight[model.config.pad_token_id].detach())
    ig = captum_attr.IntegratedGradients(_forward(model))
    peer = ig.attribute(
        word,
        baselines=baseline,
        target=ours.target,
        n_steps=16,
        method="gausslegendre",
        internal_batch_size=96,
        additional_forward_args=(b.attention_mask,),
    )
    peer = peer.sum(-1) * b.attention_mask
    assert _close(ours.relevance, peer) < 1e-4


# --- an LRP reference on the HF modules (LXT's way), independent of explain/forward.py -----


def _half(x: torch.Tensor) -> torch.Tensor:
    """Value x, gradient halved: one operand's share of a bilinear product."""
    return 0.5 * x + (0.5 * x).detach()


def _identity_rule(fn):
    """y = fn(x) with gradient y/x (the identity rule), written as x * (y/x).detach()."""

    def apply(x):
        y = fn(x)
        safe = torch.where(x.abs() < 1e-12, torch.ones_like(x), x)
        return x * torch.where(x.abs() < 1e-12, torch.full_like(x, 0.5), y / safe).detach()

    return apply


class _Rule(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _LayerNormStdDetached(torch.nn.Module):
    def __init__(self, ln: torch.nn.LayerNorm):
        super().__init__()
        self.weight, self.bias, self.eps = ln.weight, ln.bias, ln.eps

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        std = (centred.pow(2).mean(-1, keepdim=True) + self.eps).sqrt().detach()
        return centred / std * self.weight + self.bias


def _attention(softmax_rule: str, padding: torch.Tensor):
    """A registered HF attention function; HF passes no mask to an unknown implementation,
    so the padding mask [B, T] (1: real token) is applied here, as eager attention does."""

    def attend(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        scaling = query.size(-1) ** -0.5 if scaling is None else scaling
        if softmax_rule == "detach":  # CP-LRP: attention probabilities are constants
            query, key = query.detach(), key.detach()
        else:
            query, key, value = _half(query), _half(key), _half(value)
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is None:
            attention_mask = (1.0 - padding[:, None, None, :].to(scores.dtype)) * torch.finfo(scores.dtype).min
        elif attention_mask.dtype == torch.bool:
            attention_mask = torch.zeros_like(scores).masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        scores = scores + attention_mask
        probs = torch.softmax(scores, dim=-1)
        probs = probs.detach() if softmax_rule == "detach" else _half(probs)
        return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs

    return attend


def lrp_reference(model, batch, target: torch.Tensor, softmax_rule: str) -> torch.Tensor:
    """LRP relevance at the word embeddings of an HF BERT classifier patched with the rules."""
    from transformers import AttentionInterface

    m = copy.deepcopy(model).eval()
    name = f"lrp_reference_{softmax_rule}"
    AttentionInterface.register(name, _attention(softmax_rule, batch.attention_mask))
    m.set_attn_implementation(name)
    for parent in list(m.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.LayerNorm):
                setattr(parent, child_name, _LayerNormStdDetached(child))
    for layer in m.bert.encoder.layer:
        layer.intermediate.intermediate_act_fn = _Rule(_identity_rule(F.gelu))
    m.bert.pooler.activation = _Rule(_identity_rule(torch.tanh))
    word = m.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
    logits = m(inputs_embeds=word, attention_mask=batch.attention_mask).logits
    logits.gather(1, target[:, None]).sum().backward()
    return ((word.grad * word).sum(-1) * batch.attention_mask).detach()


@pytest.mark.parametrize("rule", ["attnlrp", "detach"])
def test_lrp_equals_an_independent_reference_on_the_hf_model(seed0, rule):
    model, b = seed0
    m64 = copy.deepcopy(model).double()
    ours = get_method("lrp", m64, softmax_rule=rule).attribute(b)
    peer = lrp_reference(m64, b, ours.target, rule)
    assert ours.relevance.dtype == torch.float64
    assert _close(ours.relevance, peer) < 1e-9
    # not a vacuous match: the rules change the result (plain gradient x input differs)
    plain = get_method("gxi", m64).attribute(b, ours.target).relevance
    assert _close(plain, peer) > 0.05
    assert np.isfinite(peer.numpy()).all()
