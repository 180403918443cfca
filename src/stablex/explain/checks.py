"""Checks that make LRP's correctness visible: logit equality, conservation, randomisation.

- `logit_gap`: the explain-mode forward against the HF model (eval mode), max |difference|.
- `zero_bias_conservation`: with every bias set to zero, relevance at the input must sum to
  the explained logit (the rules are then exactly conservative; only rounding remains).
- `first_rank_uniformity`: the random floor ranks words uniformly, whatever their token count.
- `randomisation_check`: Adebayo et al. (2018) cascading randomisation; the head, then the
  encoder layers from the top, are re-initialised; an explanation that still looks like the
  trained model's does not depend on what the model learnt.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.stats import spearmanr

from stablex.explain.forward import DEFAULT_SOFTMAX_RULE, EncoderWeights, Rules, forward
from stablex.explain.methods import LRP, Attributor, Batch

DIFFERS_BELOW = 0.5  # mean Spearman rho (trained vs fully randomised) under which explanations 'differ'


def logit_gap(model: torch.nn.Module, batch: Batch, rules: Rules = Rules.lrp()) -> float:
    """max |logits(explain-mode forward) - logits(HF model)| over the batch."""
    model.eval()
    with torch.no_grad():
        ref = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        ours = forward(EncoderWeights.from_hf(model), batch.input_ids, batch.attention_mask, rules)
    return float((ours - ref).abs().max())


def zero_biases(model: torch.nn.Module, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """A copy of `model` with every bias (LayerNorm's included) set to zero."""
    m = copy.deepcopy(model)
    if dtype is not None:
        m = m.to(dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    return m.eval()


def zero_bias_conservation(
    model: torch.nn.Module, batch: Batch, dtype: torch.dtype = torch.float32, softmax_rule: str = DEFAULT_SOFTMAX_RULE
) -> np.ndarray:
    """Per text: (sum of input relevance - logit) / |logit| for the zero-bias copy of `model`;
    the input is the words plus the position/type embeddings (the embedding LayerNorm's input)."""
    m = zero_biases(model, dtype)
    att = LRP(m, softmax_rule=softmax_rule, layers=False).attribute(batch)
    total = att.relevance.sum(1).double() + att.position_type.double()
    logit = att.reference.double()
    return ((total - logit) / logit.abs()).numpy()


def _linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def cascade(model: torch.nn.Module) -> list[tuple[str, list[torch.nn.Module]]]:
    """Cumulative randomisation steps: head, then top quarter, top half, all encoder layers."""
    base = model.base_model
    layers = list(base.encoder.layer)
    n = len(layers)
    head = [model.classifier] + ([base.pooler] if getattr(base, "pooler", None) is not None else [])
    steps = [("head", head)]
    for keep in sorted({n - max(1, n // 4), n // 2, 0}, reverse=True):
        steps.append((f"head+layers {n - 1}-{keep}", head + layers[keep:]))
    return steps


def randomise(modules: list[torch.nn.Module], std: float, generator: torch.Generator) -> None:
    """Re-initialise linear layers as HF does (N(0, std) weights, zero biases); LayerNorms kept."""
    with torch.no_grad():
        for mod in modules:
            for lin in _linears(mod):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator) * std)
                if lin.bias is not None:
                    lin.bias.zero_()


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def randomisation_check(
    model: torch.nn.Module, make: Callable[[torch.nn.Module], Attributor], batch: Batch, keep: np.ndarray, seed: int = 0
) -> dict:
    """Spearman rho between the trained model's token relevances and those of ever more
    randomised copies (same texts, same explained class); `keep` [B, T] marks the real tokens."""
    trained = make(model).attribute(batch)
    ref = trained.relevance.numpy()
    target = trained.target
    m = copy.deepcopy(model).eval()
    std = float(getattr(model.config, "initializer_range", 0.02))
    gen = torch.Generator().manual_seed(seed)
    steps = []
    for name, modules in cascade(m):
        randomise(modules, std, gen)
        rel = make(m).attribute(batch, target).relevance.numpy()
        rho = [_spearman(ref[i][keep[i]], rel[i][keep[i]]) for i in range(len(ref))]
        steps.append({"randomised": name, "spearman": float(np.nanmean(rho)) if not np.all(np.isnan(rho)) else None})
        # randomise() is cumulative: later steps re-draw the head again, harmless
    final = steps[-1]["spearman"]
    return {
        "n_texts": int(len(ref)),
        "steps": steps,
        "differs_below": DIFFERS_BELOW,
        "differs": bool(final is not None and final < DIFFERS_BELOW),
    }


@dataclass
class FloorCheck:
    """Which words a ranking puts first, by their number of tokens, against a uniform draw."""

    classes: list[str]  # token-count classes: "1", "2", ..., "<max>+"
    observed: list[int]  # first-ranked words per class
    expected: list[float]  # under a uniform ranking: sum over draws of the class's share of the text's words
    share_of_words: list[float]  # the class's share of all words
    chi2: float
    p: float
    draws: int


def first_rank_uniformity(
    token_words: list[np.ndarray], rank: Callable[[int], np.ndarray], draws: int = 1, max_tokens: int = 3
) -> FloorCheck:
    """Is the word a ranking puts first independent of its token count? (the random floor's test)

    `token_words[i]`: text i's token -> word map (-1: special); `rank(i)`: one draw of word scores
    for text i (highest first). Under a uniform ranking a word of text i is first with probability
    1 / n_i, so the expected count of a class sums its words' 1 / n_i over texts and draws; the
    chi-square goodness-of-fit test (scipy.stats.chisquare) compares the observed first ranks."""
    from scipy.stats import chisquare

    K = max_tokens
    observed, expected, words = np.zeros(K), np.zeros(K), np.zeros(K)
    for i, tw in enumerate(token_words):
        cls = np.minimum(np.bincount(tw[tw >= 0]), K) - 1  # every aggregated word holds >= 1 token
        cls = np.maximum(cls, 0)
        np.add.at(expected, cls, draws / len(cls))
        np.add.at(words, cls, 1)
        for _ in range(draws):
            observed[cls[int(np.argmax(rank(i)))]] += 1
    keep = expected > 0
    test = chisquare(observed[keep], expected[keep] * observed.sum() / expected[keep].sum())
    return FloorCheck(
        [*map(str, range(1, K)), f"{K}+"],
        observed.astype(int).tolist(),
        expected.tolist(),
        (words / words.sum()).tolist(),
        float(test.statistic),
        float(test.pvalue),
        draws,
    )
