"""One functional forward pass over the weights of a BERT-family classifier, with LRP rules.

The pass reads the weights of an HF `BertForSequenceClassification`, `RobertaFor...`,
`XLMRobertaFor...` or `CamembertForSequenceClassification` and recomputes its logits (eval
mode: no dropout). With `Rules.lrp()`, every rule is a change of the *backward* only
(values are untouched), so that gradient x input at the input (the word embeddings, plus
the position/type embeddings reported apart) is the LRP relevance:

- LayerNorm: the normalising factor 1/std is a constant (gradient through the centring
  and the affine scale only);
- GELU and tanh: identity rule, gradient replaced by out / in (GELU(x)/x = Phi(x));
- attention: the two bilinear products Q.K^T and A.V pass half of the gradient to each
  operand (equal split of relevance);
- softmax: see `SOFTMAX_RULES`;
- linear layers: plain gradient (the epsilon rule with epsilon -> 0); biases absorb
  relevance, which is why conservation is measured layer by layer.

Weights are detached: a backward pass computes gradients for the input only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from stablex.errors import StablexError

DEFAULT_SOFTMAX_RULE = "detach"  # CP-LRP, chosen by measurement: docs/explain.md, "Choosing the rule"
CHEFER_SOFTMAX_RULE = "attnlrp"  # chefer needs relevance at the attention maps: not "detach"

# The rule sets by name, with the publication each one is (softmax_rule -> name, reference).
RULE_SETS = {
    "attnlrp": (
        "AttnLRP",
        "Achtibat et al. 2024, AttnLRP: Attention-Aware Layer-Wise Relevance Propagation "
        "for Transformers, ICML 2024 (as LXT implements it)",
    ),
    "detach": (
        "CP-LRP",
        "Ali et al. 2022, XAI for Transformers: Better Explanations through Conservative "
        "Propagation, ICML 2022 (AH and LN rules)",
    ),
    "identity": ("stablex identity rule", "none: stablex's own rule, see docs/explain.md"),
}


def rule_record(softmax_rule: str) -> dict:
    """What a summary says about the rule set: its name, option value and reference."""
    if softmax_rule not in RULE_SETS:
        raise StablexError(f"softmax rule {softmax_rule!r}: choose one of {sorted(RULE_SETS)}")
    name, ref = RULE_SETS[softmax_rule]
    return {"name": name, "softmax_rule": softmax_rule, "reference": ref, "rules": SOFTMAX_RULES[softmax_rule]}


SOFTMAX_RULES = {
    # Normaliser Z treated as a constant and identity rule through exp: the relevance of a score
    # is the relevance of its attention probability; it is split between Q and K equally and,
    # inside the dot product q.k, over the features in proportion to |q_d k_d|. Conservative
    # with zero biases and numerically stable (see _ScoresLRP for why not the z-rule).
    "identity": "Z constant, identity through exp; score relevance split over q_d k_d by |q_d k_d|, "
    "half to Q, half to K",
    # AttnLRP (Achtibat et al. 2024): plain gradient x input through the softmax; not
    # conservative (the softmax's implicit bias term absorbs relevance).
    "attnlrp": "plain gradient x input through the softmax (AttnLRP)",
    # Ali et al. 2022 ('AH' rule): attention probabilities are constants; relevance flows
    # through the values only. Conservative; no relevance reaches Q and K.
    "detach": "attention probabilities treated as constants (Ali et al. 2022)",
}


@dataclass(frozen=True)
class Rules:
    """Which backward rules are on. `Rules()` is the plain model (ordinary gradients)."""

    layernorm: bool = False
    activation: bool = False
    attention: bool = False  # halve the gradient through the bilinear attention products
    softmax: str = "plain"  # 'plain' (ordinary gradient) or one of SOFTMAX_RULES

    @classmethod
    def lrp(cls, softmax: str = DEFAULT_SOFTMAX_RULE) -> "Rules":
        if softmax not in SOFTMAX_RULES:
            raise StablexError(f"softmax rule {softmax!r}: choose one of {sorted(SOFTMAX_RULES)}")
        return cls(layernorm=True, activation=True, attention=True, softmax=softmax)


# --- backward-only rules as autograd functions (values computed by the exact ops) --------


class _Through(torch.autograd.Function):
    """Value `value` (computed elsewhere, exact); gradient to `x` is g * factor."""

    @staticmethod
    def forward(ctx, x, value, factor):  # noqa: D401
        ctx.save_for_backward(factor)
        return value.clone() if value is x else value.view_as(value)

    @staticmethod
    def backward(ctx, g):
        (factor,) = ctx.saved_tensors
        return g * factor, None, None


class _LayerNormConst(torch.autograd.Function):
    """torch's LayerNorm value; backward with 1/std held constant: dx = centre(g * w) * rstd."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        out, _, rstd = torch.native_layer_norm(x, (x.shape[-1],), weight, bias, eps)
        ctx.save_for_backward(weight, rstd)
        return out

    @staticmethod
    def backward(ctx, g):
        weight, rstd = ctx.saved_tensors
        gw = g * weight
        return (gw - gw.mean(-1, keepdim=True)) * rstd, None, None, None


class _Half(torch.autograd.Function):
    """Identity value, half the gradient: one operand's share of a bilinear product."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * 0.5


class _ScoresLRP(torch.autograd.Function):
    """softmax(q k^T + mask) (q already scaled; 3-d, heads folded into the batch) with the
    'identity' rule in the backward.

    Relevance at the probabilities, R = A * g (A's half of A.V is applied by `share`), is
    the relevance of the scores. Passing it on as a gradient R / s (the z-rule through
    s = q.k) divides by scores near zero: measured on e5-small, the input relevance was then
    dominated by cancellation noise (float32 conservation errors up to 12x the logit, rank
    correlation 0.07 with the other rules). Instead each feature d of the dot product gets
    the share |q_d k_d| / sum_d |q_d k_d| of R, half through q and half through k: bounded,
    same sign as R, conservative.
    """

    @staticmethod
    def forward(ctx, q, k, bias, share):
        probs = torch.softmax(_scores(q, k, bias), dim=-1)
        ctx.save_for_backward(q, k, probs)
        ctx.share = share
        return probs

    @staticmethod
    def backward(ctx, g):
        q, k, probs = ctx.saved_tensors
        gq, gk = _share_scores(q, k, probs * g, 0.5 * ctx.share)
        return gq, gk, None, None


def _share_scores(q: torch.Tensor, k: torch.Tensor, r: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of q and k that hand each feature d of q_i.k_j the share |q_d k_d| / sum |q k|
    of r_ij (relevance of the scores; overwritten), times c (q's and k's common share)."""
    qa, ka = q.abs(), k.abs()
    # |q||k|^T > 0 everywhere: a floor of eps on the (small) operands rather than a pass over T x T
    eps = torch.finfo(q.dtype).tiny ** 0.5
    r.div_(torch.bmm(qa + eps, (ka + eps).transpose(1, 2)))
    gq = q.sign() * torch.bmm(r, ka * c)
    # (qa^T r)^T rather than r^T qa: a transposed T x T operand makes bmm twice as slow
    gk = k.sign() * torch.bmm((qa * c).transpose(1, 2), r).transpose(1, 2)
    return gq, gk


class _FusedAttention(torch.autograd.Function):
    """softmax(q k^T + mask) @ v with an LRP softmax rule in one node: the T x T gradient is
    computed, weighted and shared in place, with no autograd graph between. `rule`:
    'identity' (the score relevance A * g_A split over q_d k_d, see _ScoresLRP) or 'attnlrp'
    (the plain softmax gradient, Achtibat et al. 2024; what LXT computes). `share`: each
    operand's share of the products A.V and Q.K^T (0.5: the equal split; 1: plain gradients).
    q, k, v: [B * heads, T, dh] (q already scaled)."""

    @staticmethod
    def forward(ctx, q, k, v, bias, share, rule):
        probs = torch.softmax(_scores(q, k, bias), dim=-1)
        ctx.save_for_backward(q, k, v, probs)
        ctx.share, ctx.rule = share, rule
        return torch.bmm(probs, v)

    @staticmethod
    def backward(ctx, g):
        q, k, v, probs = ctx.saved_tensors
        c = ctx.share
        gv = torch.bmm(g.transpose(1, 2), probs).transpose(1, 2)  # (g^T A)^T: see _AttendValues
        if c != 1.0:
            gv.mul_(c)
        ga = torch.bmm(g, v.transpose(1, 2))
        if ctx.rule == "identity":  # relevance of A (before A's share), shared over the features of q.k
            gq, gk = _share_scores(q, k, ga.mul_(probs), 0.5 * c)
        else:  # softmax backward in place: A * (gA - sum_j gA A), then the shares of both products
            gs = ga.sub_((ga * probs).sum(-1, keepdim=True)).mul_(probs).mul_(c * c)
            gq, gk = torch.bmm(gs, k), torch.bmm(q.transpose(1, 2), gs).transpose(1, 2)
        return gq, gk, gv, None, None, None


class _AttendValues(torch.autograd.Function):
    """a @ v with the gradient of v computed as (g^T a)^T: autograd's a^T g reads the T x T
    matrix transposed, which makes that product about twice as slow on CPU."""

    @staticmethod
    def forward(ctx, a, v):
        ctx.save_for_backward(a, v)
        return torch.matmul(a, v)

    @staticmethod
    def backward(ctx, g):
        a, v = ctx.saved_tensors
        ga = torch.matmul(g, v.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        gv = torch.matmul(g.transpose(-1, -2), a).transpose(-1, -2) if ctx.needs_input_grad[1] else None
        return ga, gv


def _scores(q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """q k^T (+ the padding mask); without padding no T x T mask is read or copied."""
    kt = k.transpose(1, 2)
    return torch.bmm(q, kt) if bias is None else torch.baddbmm(bias, q, kt)


def _through(x: torch.Tensor, value: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _Through.apply(x, value.detach(), factor.detach())


# --- weights ------------------------------------------------------------------------------


@dataclass
class LayerWeights:
    qkv_w: torch.Tensor  # [3H, H]: query, key, value stacked (one matmul)
    qkv_b: torch.Tensor
    o_w: torch.Tensor
    o_b: torch.Tensor
    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    f1_w: torch.Tensor
    f1_b: torch.Tensor
    f2_w: torch.Tensor
    f2_b: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor


ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


@dataclass
class EncoderWeights:
    """Detached views of an HF BERT-family classifier's parameters (no copy)."""

    word: torch.Tensor
    pos: torch.Tensor
    typ: torch.Tensor
    ln_w: torch.Tensor
    ln_b: torch.Tensor
    eps: float
    layers: list[LayerWeights]
    n_heads: int
    act: str
    pad_id: int | None
    head_w: torch.Tensor  # pooler.dense / classifier.dense
    head_b: torch.Tensor
    out_w: torch.Tensor  # classifier / classifier.out_proj
    out_b: torch.Tensor
    roberta_positions: bool = False  # RoBERTa family: positions start at pad_id + 1 (position_ids)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @classmethod
    def from_hf(cls, model: torch.nn.Module) -> "EncoderWeights":
        cfg = model.config
        base = getattr(model, "base_model", None)
        if base is None or not hasattr(base, "embeddings") or not hasattr(base, "encoder"):
            raise StablexError(f"{type(model).__name__}: not a BERT-family model (no embeddings/encoder)")
        if getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute"):
            raise StablexError(f"position_embedding_type={cfg.position_embedding_type!r} is not supported")
        act = cfg.hidden_act if isinstance(cfg.hidden_act, str) else None
        if act not in ACTIVATIONS:
            raise StablexError(f"hidden_act={cfg.hidden_act!r} is not supported (supported: {ACTIVATIONS})")
        emb = base.embeddings
        d = lambda t: t.detach()  # noqa: E731
        layers = []
        for lyr in base.encoder.layer:
            sa, ao = lyr.attention.self, lyr.attention.output
            layers.append(
                LayerWeights(
                    qkv_w=torch.cat([d(sa.query.weight), d(sa.key.weight), d(sa.value.weight)]),
                    qkv_b=torch.cat([d(sa.query.bias), d(sa.key.bias), d(sa.value.bias)]),
                    o_w=d(ao.dense.weight),
                    o_b=d(ao.dense.bias),
                    ln1_w=d(ao.LayerNorm.weight),
                    ln1_b=d(ao.LayerNorm.bias),
                    f1_w=d(lyr.intermediate.dense.weight),
                    f1_b=d(lyr.intermediate.dense.bias),
                    f2_w=d(lyr.output.dense.weight),
                    f2_b=d(lyr.output.dense.bias),
                    ln2_w=d(lyr.output.LayerNorm.weight),
                    ln2_b=d(lyr.output.LayerNorm.bias),
                )
            )
        clf = model.classifier
        if hasattr(clf, "out_proj"):  # RoBERTa, XLM-R, CamemBERT
            head, out = clf.dense, clf.out_proj
        else:
            pooler = getattr(base, "pooler", None)
            if pooler is None:
                raise StablexError(f"{type(model).__name__}: BERT head without a pooler is not supported")
            head, out = pooler.dense, clf
        is_roberta_emb = hasattr(type(emb), "create_position_ids_from_input_ids")
        pad = getattr(emb, "padding_idx", cfg.pad_token_id)
        return cls(
            word=d(emb.word_embeddings.weight),
            pos=d(emb.position_embeddings.weight),
            typ=d(emb.token_type_embeddings.weight),
            ln_w=d(emb.LayerNorm.weight),
            ln_b=d(emb.LayerNorm.bias),
            eps=float(emb.LayerNorm.eps),
            layers=layers,
            n_heads=int(cfg.num_attention_heads),
            act=act,
            pad_id=pad,
            head_w=d(head.weight),
            head_b=d(head.bias),
            out_w=d(out.weight),
            out_b=d(out.bias),
            roberta_positions=is_roberta_emb,
        )


# --- the pass -------------------------------------------------------------------------------


def position_ids(W: EncoderWeights, input_ids: torch.Tensor) -> torch.Tensor:
    """BERT: 0..T-1. RoBERTa family: pad_id+1.. over non-pad tokens, pad_id on padding (as HF)."""
    if W.roberta_positions:
        mask = input_ids.ne(W.pad_id).int()
        return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + W.pad_id
    T = input_ids.shape[1]
    return torch.arange(T, device=input_ids.device).unsqueeze(0).expand_as(input_ids)


def embed_parts(W: EncoderWeights, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(word embeddings, position + token-type embeddings), each [B, T, H]. The word part is
    every method's input point (as in LXT and Captum); the other part's relevance is relevance
    the words do not own, reported on its own."""
    return F.embedding(input_ids, W.word), F.embedding(position_ids(W, input_ids), W.pos) + W.typ[0]


def embed(W: EncoderWeights, input_ids: torch.Tensor) -> torch.Tensor:
    """The input of the embedding LayerNorm: word + token-type + position embeddings [B, T, H]."""
    word, rest = embed_parts(W, input_ids)
    return word + rest


@dataclass
class Capture:
    """Tensors kept from one pass, for gradients at inner nodes."""

    hidden: bool = False  # the input of each layer + the last hidden state
    attention: bool = False  # the attention-probability operand of A.V, per layer
    hiddens: list[torch.Tensor] = field(default_factory=list)
    attn: list[torch.Tensor] = field(default_factory=list)
    probs: list[torch.Tensor] = field(default_factory=list)  # the attention values (detached)

    def nodes(self) -> list[torch.Tensor]:
        """The captured tensors that gradients are taken at, in layer order."""
        return self.hiddens + self.attn

    def fresh(self) -> "Capture":
        """An empty capture of the same kind."""
        return Capture(hidden=self.hidden, attention=self.attention)

    def joined(self, upper: "Capture") -> "Capture":
        """This (lower layers') capture followed by `upper`'s: the capture of one whole pass."""
        return Capture(
            self.hidden, self.attention, self.hiddens + upper.hiddens, self.attn + upper.attn, self.probs + upper.probs
        )


def _layernorm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float, rules: Rules) -> torch.Tensor:
    if rules.layernorm:
        return _LayerNormConst.apply(x, w, b, eps)
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _act(x: torch.Tensor, kind: str, rules: Rules) -> torch.Tensor:
    if kind == "gelu":
        if rules.activation:  # gelu(x) = x Phi(x): the identity rule's gradient is Phi(x)
            return x * torch.special.ndtr(x).detach()
        return F.gelu(x)
    if kind == "relu":
        return F.relu(x)  # already y = x * (y/x): the identity rule is its gradient
    y = F.gelu(x, approximate="tanh")
    return _through(x, y, _ratio(y, x, 0.5)) if rules.activation else y


def _ratio(y: torch.Tensor, x: torch.Tensor, at_zero: float) -> torch.Tensor:
    """y / x, with the limit value where x is (nearly) zero."""
    small = x.abs() < 1e-6
    return torch.where(small, torch.full_like(x, at_zero), y / torch.where(small, torch.ones_like(x), x))


def _tanh(x: torch.Tensor, rules: Rules) -> torch.Tensor:
    y = torch.tanh(x)
    return _through(x, y, _ratio(y, x, 1.0)) if rules.activation else y


def _attention(
    h: torch.Tensor, L: LayerWeights, bias: torch.Tensor | None, n_heads: int, rules: Rules, cap: Capture | None
) -> torch.Tensor:
    """Self-attention; `bias` [B * heads, 1, T] is the additive padding mask (0 or dtype min), None without padding."""
    B, T, H = h.shape
    dh = H // n_heads
    qkv = F.linear(h, L.qkv_w, L.qkv_b).view(B, T, 3, n_heads, dh).permute(2, 0, 3, 1, 4)
    q = (qkv[0] * dh**-0.5).reshape(B * n_heads, T, dh)
    k = qkv[1].reshape(B * n_heads, T, dh)
    v = qkv[2]
    if rules.softmax in ("identity", "attnlrp") and not (cap is not None and cap.attention):
        share = 0.5 if rules.attention else 1.0
        ctx = _FusedAttention.apply(q, k, v.reshape(B * n_heads, T, dh), bias, share, rules.softmax)
        ctx = ctx.view(B, n_heads, T, dh)
        return F.linear(ctx.transpose(1, 2).reshape(B, T, H), L.o_w, L.o_b)
    if rules.softmax == "identity":
        a = _ScoresLRP.apply(q, k, bias, 0.5 if rules.attention else 1.0).view(B, n_heads, T, T)
        probs = a
    else:
        if rules.softmax == "detach":
            q, k = q.detach(), k.detach()
        elif rules.attention and rules.softmax == "attnlrp":
            q, k = _Half.apply(q), _Half.apply(k)
        probs = torch.softmax(_scores(q, k, bias), dim=-1).view(B, n_heads, T, T)
        if rules.softmax == "detach":
            a = probs.detach()
        elif rules.attention:  # attnlrp: plain softmax gradient, A's half of A.V
            a = _Half.apply(probs)
        else:
            a = probs
    if rules.attention and rules.softmax != "detach":
        v = _Half.apply(v)
    if cap is not None and cap.attention:
        if not a.requires_grad:
            raise StablexError("attention capture needs a softmax rule that keeps gradients (not 'detach')")
        a.retain_grad()
        cap.attn.append(a)
        cap.probs.append(probs.detach())
    ctx = _AttendValues.apply(a, v).transpose(1, 2).reshape(B, T, H)
    return F.linear(ctx, L.o_w, L.o_b)


def attention_bias(W: EncoderWeights, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """The additive padding mask [B * heads, 1, T] (0 or dtype min); None without padding."""
    B, T = attention_mask.shape
    if bool(attention_mask.all()):
        return None
    bias = ((1.0 - attention_mask.to(dtype)) * torch.finfo(dtype).min)[:, None, None, :]
    return bias.expand(B, W.n_heads, 1, T).reshape(B * W.n_heads, 1, T)


def encode_lower(
    W: EncoderWeights,
    e: torch.Tensor,
    bias: torch.Tensor | None,
    k: int,
    rules: Rules = Rules(),
    cap: Capture | None = None,
) -> torch.Tensor:
    """The embedding LayerNorm and layers 0..k-1: the input of layer k [B, T, H]."""
    h = _layernorm(e, W.ln_w, W.ln_b, W.eps, rules)
    return _layers(W, h, bias, range(k), rules, cap)


def encode_upper(
    W: EncoderWeights,
    h: torch.Tensor,
    bias: torch.Tensor | None,
    k: int,
    rules: Rules = Rules(),
    cap: Capture | None = None,
) -> torch.Tensor:
    """Layers k.. and the head: logits [B, C] from the input of layer k."""
    h = _layers(W, h, bias, range(k, W.n_layers), rules, cap)
    if cap is not None and cap.hidden:
        cap.hiddens.append(h)
    pooled = _tanh(F.linear(h[:, 0], W.head_w, W.head_b), rules)
    return F.linear(pooled, W.out_w, W.out_b)


def _layers(
    W: EncoderWeights, h: torch.Tensor, bias: torch.Tensor | None, which: range, rules: Rules, cap: Capture | None
) -> torch.Tensor:
    for i in which:
        L = W.layers[i]
        if cap is not None and cap.hidden:
            cap.hiddens.append(h)
        a = _attention(h, L, bias, W.n_heads, rules, cap)
        h = _layernorm(a + h, L.ln1_w, L.ln1_b, W.eps, rules)
        f = F.linear(_act(F.linear(h, L.f1_w, L.f1_b), W.act, rules), L.f2_w, L.f2_b)
        h = _layernorm(f + h, L.ln2_w, L.ln2_b, W.eps, rules)
    return h


def encode(
    W: EncoderWeights, e: torch.Tensor, attention_mask: torch.Tensor, rules: Rules = Rules(), cap: Capture | None = None
) -> torch.Tensor:
    """Logits [B, C] from the input point e [B, T, H] (see `embed`)."""
    bias = attention_bias(W, attention_mask, e.dtype)
    return encode_upper(W, encode_lower(W, e, bias, 0, rules, cap), bias, 0, rules, cap)


def forward(
    W: EncoderWeights, input_ids: torch.Tensor, attention_mask: torch.Tensor, rules: Rules = Rules()
) -> torch.Tensor:
    return encode(W, embed(W, input_ids), attention_mask, rules)
