"""Explanation methods behind one interface: `get_method(name, model).attribute(batch, target)`.

Every method explains the logit of `target` (one class per text; None: the predicted class)
and returns token relevances [B, T] at one input point, the **word embeddings** (as LXT and
Captum read them). `lrp` also reports the relevance of the position + token-type embeddings
(`Attribution.position_type`): relevance the words do not own, so it is kept apart, and
words + position/type is what conservation checks at the input. Sign convention: relevance
is toward the explained class (positive: the token raises that class's logit), for every
method; `chefer` is non-negative by construction (its positive part only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Protocol, Sequence

import numpy as np
import torch

from stablex.errors import StablexError
from stablex.explain.forward import (
    CHEFER_SOFTMAX_RULE,
    DEFAULT_SOFTMAX_RULE,
    SOFTMAX_RULES,
    Capture,
    EncoderWeights,
    Rules,
    attention_bias,
    embed,
    embed_parts,
    encode,
    encode_lower,
    encode_upper,
    rule_record,
)
from stablex.options import Section, at_least, declaration, one_of, option

INPUT_POINT = "word embeddings"
# Filled by each method class as it is defined (_Method.__init_subclass__).
METHODS: dict[str, type["_Method"]] = {}
BASELINES: dict[str, type["_Method"]] = {}


@dataclass
class Attribution:
    relevance: torch.Tensor  # [B, T] float32 toward `target`; 0 on padding
    logits: torch.Tensor  # [B, C] the model's logits (float32)
    target: torch.Tensor  # [B] long: the class explained
    reference: torch.Tensor | None = None  # [B] what relevance should sum to (lrp: the logit; ig: f(x) - f(baseline))
    layer_sums: torch.Tensor | None = None  # [B, K] relevance summed at each of `layer_names` (lrp)
    layer_names: list[str] | None = None
    position_type: torch.Tensor | None = None  # [B] lrp: relevance of the position + token-type embeddings


class Batch(Protocol):
    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    special_tokens_mask: Any  # [B, T] bool: special or padding (ig keeps these in its baseline)


class Attributor(Protocol):
    """What every method implements (cf. Captum's `attribute(inputs, target)`); made for
    several seeds' models at once, `attribute_seeds` explains a batch with each of them."""

    name: str

    def attribute(self, batch: Batch, target: torch.Tensor | None = None) -> Attribution: ...

    def attribute_seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]: ...


def _pick(logits: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    t = logits.detach().argmax(-1) if target is None else torch.as_tensor(target, dtype=torch.long)
    if t.shape != logits.shape[:1]:
        raise StablexError(f"target has shape {tuple(t.shape)}; expected one class per text ({logits.shape[0]})")
    if (t < 0).any() or (t >= logits.shape[1]).any():
        raise StablexError(f"target class out of range 0..{logits.shape[1] - 1}")
    return t


def _selected(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, t[:, None])[:, 0]


@dataclass
class _Pass:
    """One model's pass over a batch: its logits, the class explained, and the gradients of
    that class's logit at the input point e and at the captured tensors (`cap.nodes()`)."""

    logits: torch.Tensor
    target: torch.Tensor
    selected: torch.Tensor
    grads: list[torch.Tensor]
    cap: Capture


def _passes(
    Ws: list[EncoderWeights],
    e: torch.Tensor,
    mask: torch.Tensor,
    rules: Rules,
    cap: Capture,
    targets: Sequence[torch.Tensor | None],
    shared: int,
) -> Iterator[_Pass]:
    """Each model's forward and backward pass from the input point `e` (a leaf that requires
    grad), yielded in turn, so that a caller holds one model's gradients at a time; `targets[i]`
    is read when model i's turn comes (chefer's plain pass appends the class its LRP pass chose).

    With `shared` lower layers (the same weights in every model: a run's frozen layers) they
    run forward once for all models; each model runs its upper layers, takes its gradient at
    their input, and sends it down the one graph of the shared layers. The backward through
    those layers depends only on their forward (the same for every model) and the gradient
    arriving from above, so the chain rule split there gives the numbers of a whole pass per
    model, at one forward of the shared layers."""
    if not shared:
        for i, W in enumerate(Ws):
            c = cap.fresh()
            logits = encode(W, e, mask, rules, c)
            t = _pick(logits, targets[i])
            sel = _selected(logits, t)
            grads = torch.autograd.grad(sel.sum(), [e, *c.nodes()])
            yield _Pass(logits.detach(), t, sel.detach(), list(grads), c)
        return
    bias = attention_bias(Ws[0], mask, e.dtype)
    low = cap.fresh()
    h = encode_lower(Ws[0], e, bias, shared, rules, low)
    nh = len(low.hiddens)
    for i, W in enumerate(Ws):
        x = h.detach().requires_grad_(True)
        c = cap.fresh()
        logits = encode_upper(W, x, bias, shared, rules, c)
        t = _pick(logits, targets[i])
        sel = _selected(logits, t)
        g = torch.autograd.grad(sel.sum(), [x, *c.nodes()])
        # the shared layers' graph is kept for the next model, freed after the last
        lo = torch.autograd.grad(h, [e, *low.nodes()], grad_outputs=g[0], retain_graph=i < len(Ws) - 1)
        nuh = len(c.hiddens)
        grads = [lo[0], *lo[1 : 1 + nh], *g[1 : 1 + nuh], *lo[1 + nh :], *g[1 + nuh :]]
        yield _Pass(logits.detach(), t, sel.detach(), grads, low.joined(c))


class SharedLayersDiffer(StablexError):
    """Models said to share their lower layers do not (the stage names the run and seeds)."""


def _check_shared(Ws: list[EncoderWeights], k: int) -> int:
    """`k` when the embeddings and the lower k layers of every model hold the same values, else
    an error: sharing them would explain other models than the ones given."""
    if k <= 0:
        return 0
    first = Ws[0]
    if k > first.n_layers:
        raise StablexError(f"shared_layers = {k}: the encoder has {first.n_layers} layers")

    def parts(W: EncoderWeights) -> list[torch.Tensor]:
        lower = [getattr(L, f.name) for L in W.layers[:k] for f in dataclasses.fields(L)]
        return [W.word, W.pos, W.typ, W.ln_w, W.ln_b, *lower]

    ref = parts(first)
    for i, W in enumerate(Ws[1:], 1):
        if not all(torch.equal(a, b) for a, b in zip(ref, parts(W))):
            raise SharedLayersDiffer(
                f"shared_layers = {k}: model {i} differs from model 0 in its embeddings or lower {k} layers"
            )
    return k


@dataclass(frozen=True)
class NoOptions(Section):
    """A method without options (its `[explain.<name>]` table must be empty)."""


class _Method:
    """A method's traits, read by the stages instead of testing its name:

    - `Options`: its options, a frozen dataclass of `option(...)` fields (stablex.options):
      read from `[explain.<name>]`, checked when made, passed to the constructor as keywords;
      they enter its identity (a changed option is a configuration mismatch, not a silent mix)
      except those declared `volatile=True` (speed, not relevances);
    - `rule_option` / `rules`: the option naming its LRP rule set and the rules it accepts
      (None: no LRP rules);
    - `input_point`: where its relevance is read;
    - `is_floor`: a floor for faithfulness (BASELINES), not an explanation of the model: it
      ranks words toward the class a real method explained, and `stablex explain` refuses it.

    A subclass with a `name` registers itself (METHODS, or BASELINES when `is_floor`): adding
    a method is one class."""

    name = ""
    is_floor = False
    Options: ClassVar[type[Section]] = NoOptions
    rule_option: str | None = None
    rules: tuple[str, ...] = ()
    input_point = INPUT_POINT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            (BASELINES if cls.is_floor else METHODS)[cls.name] = cls

    def __init__(self, model: torch.nn.Module | Sequence[torch.nn.Module], shared_layers: int = 0):
        """`model`: one model, or several seeds' models explained together (`attribute_seeds`);
        `shared_layers`: their lower layers (and embeddings) hold the same weights (a run's
        frozen layers), so those layers run once per batch for all of them (checked here)."""
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        for m in models:
            m.eval()
        self.model = models[0]
        self.Ws = [EncoderWeights.from_hf(m) for m in models]
        self.W = self.Ws[0]
        self.shared = _check_shared(self.Ws, shared_layers) if len(self.Ws) > 1 else 0

    def _inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.input_ids, batch.attention_mask

    def attribute(self, batch: Batch, target: torch.Tensor | None = None) -> Attribution:
        """The relevances of one model (made with one)."""
        if len(self.Ws) != 1:
            raise StablexError(f"{self.name}: made for {len(self.Ws)} models; use attribute_seeds")
        return self.attribute_seeds(batch, [target])[0]

    def attribute_seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]:
        """The relevances of each model for the same batch, one target (or None) per model."""
        if len(targets) != len(self.Ws):
            raise StablexError(f"{self.name}: {len(targets)} targets for {len(self.Ws)} models")
        return self._seeds(batch, targets)

    def _seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]:
        """What a method computes for every model at once (default: each model on its own)."""
        return [self._one(W, batch, t) for W, t in zip(self.Ws, targets)]

    def _one(self, W: EncoderWeights, batch: Batch, target: torch.Tensor | None) -> Attribution:
        raise NotImplementedError


class LRP(_Method):
    """LRP with a published rule set (see forward.py): one forward and one backward pass.

    Relevance is read at the word embeddings; the position + token-type embeddings' share is
    returned apart. `layer_sums` holds the words' total, then the total at the embedding
    LayerNorm's input (words + position/type), each layer's input and the last hidden state."""

    name = "lrp"
    rule_option = "softmax_rule"
    rules = tuple(SOFTMAX_RULES)

    @dataclass(frozen=True)
    class Options(Section):
        SECTION: ClassVar[str] = "explain.lrp"
        softmax_rule: str = option(
            DEFAULT_SOFTMAX_RULE,
            rule=one_of(*SOFTMAX_RULES),
            help="lrp's rule set by its softmax rule: attnlrp (AttnLRP, Achtibat et al. 2024) | detach (CP-LRP, "
            "Ali et al. 2022) | identity (stablex's own); chosen by measurement, docs/explain.md",
        )

    def __init__(
        self,
        model: torch.nn.Module | Sequence[torch.nn.Module],
        softmax_rule: str = DEFAULT_SOFTMAX_RULE,
        layers: bool = True,
        shared_layers: int = 0,
    ):
        self.Options(softmax_rule=softmax_rule)  # the one check of the value
        super().__init__(model, shared_layers)
        self.rules = Rules.lrp(softmax_rule)
        self.layers = layers

    def _seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]:
        ids, mask = self._inputs(batch)
        word, rest = embed_parts(self.W, ids)  # the embeddings are frozen where models share layers
        e = (word + rest).requires_grad_(True)
        out = []
        for p in _passes(self.Ws, e, mask, self.rules, Capture(hidden=self.layers), targets, self.shared):
            grads = p.grads
            R = ((grads[0] * word).sum(-1) * mask).detach()
            pos_type = ((grads[0] * rest).sum(-1) * mask).sum(1).detach()
            sums, names = None, None
            if self.layers:
                at = [(g * x).sum((1, 2)) for g, x in zip(grads, [e, *p.cap.hiddens])]
                sums = torch.stack([R.sum(1), *at], 1).detach()
                names = ["words", "input", *[f"layer_{i}" for i in range(self.W.n_layers)], "last_hidden"]
            out.append(Attribution(R, p.logits, p.target, p.selected, sums, names, pos_type))
        return out


class GradientXInput(_Method):
    """Plain gradient x input, with the word embeddings as input (same cost as `lrp`).

    Not at e = word + position + type: the embedding LayerNorm
    normalises each token's vector, so f is scale invariant in each e_t and e_t . grad f = 0
    for every token (Euler): gradient x input there is identically zero up to rounding. The
    word-embedding part w_t . grad_{e_t} f is the usual choice (Captum's BERT tutorials)."""

    name = "gxi"

    def _seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]:
        ids, mask = self._inputs(batch)
        e = embed(self.W, ids).requires_grad_(True)
        word = self.W.word[ids]
        return [
            Attribution(((p.grads[0] * word).sum(-1) * mask).detach(), p.logits, p.target)
            for p in _passes(self.Ws, e, mask, Rules(), Capture(), targets, self.shared)
        ]


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in (0, 1) and weights summing to 1 (Captum's default integration rule)."""
    x, w = np.polynomial.legendre.leggauss(steps)
    return (x + 1) / 2, w / 2


class IntegratedGradients(_Method):
    """IG from a [PAD] baseline to the text, Gauss-Legendre rule with `steps` nodes; the
    B x steps scaled inputs run in chunks of `internal_batch` rows.

    The baseline is the input point with every non-special token's word embedding replaced by
    the [PAD] embedding (positions, token types and special tokens kept), as in Captum's BERT
    tutorial. An all-zero baseline does not work here: the embedding LayerNorm is scale
    invariant, so f(alpha e) is constant for alpha > 0 and IG would see no gradient at all.
    Relevance = (e - e0) * average gradient; it sums to f(e) - f(e0) (completeness).
    """

    name = "ig"

    @dataclass(frozen=True)
    class Options(Section):
        SECTION: ClassVar[str] = "explain.ig"
        steps: int = option(
            32,
            rule=at_least(1),
            help="Gauss-Legendre nodes of the path integral",
            cli="--ig-steps",
            commands=("explain",),
        )
        internal_batch: int = option(
            64, rule=at_least(1), volatile=True, help="Rows (text x step) per forward/backward"
        )

    def __init__(
        self,
        model: torch.nn.Module | Sequence[torch.nn.Module],
        steps: int = Options.steps,
        internal_batch: int = Options.internal_batch,
        shared_layers: int = 0,
    ):
        self.Options(steps=steps, internal_batch=internal_batch)  # the one check of the values
        super().__init__(model, shared_layers)  # each model runs whole: the path's points differ
        if self.W.pad_id is None:
            raise StablexError("ig: the model has no pad token for its baseline")
        self.steps, self.internal_batch = steps, internal_batch

    def baseline(self, batch: Batch, e: torch.Tensor, W: EncoderWeights | None = None) -> torch.Tensor:
        W = W or self.W
        ids, mask = self._inputs(batch)
        keep = torch.as_tensor(batch.special_tokens_mask, dtype=torch.bool) | (mask == 0)
        word = torch.where(keep[..., None], W.word[ids], W.word[W.pad_id].expand_as(e))
        return e - W.word[ids] + word

    def _one(self, W: EncoderWeights, batch: Batch, target: torch.Tensor | None) -> Attribution:
        ids, mask = self._inputs(batch)
        e = embed(W, ids)
        e0 = self.baseline(batch, e, W)
        B = e.shape[0]
        with torch.no_grad():
            logits = encode(W, e, mask)
            t = _pick(logits, target)
            base = _selected(encode(W, e0, mask), t)
        alphas, weights = gauss_legendre(self.steps)
        rows = [(b, s) for b in range(B) for s in range(self.steps)]  # text-major
        total = torch.zeros_like(e)
        diff = e - e0
        for start in range(0, len(rows), self.internal_batch):
            chunk = rows[start : start + self.internal_batch]
            bi = torch.tensor([b for b, _ in chunk])
            a = torch.tensor([alphas[s] for _, s in chunk], dtype=e.dtype)
            w = torch.tensor([weights[s] for _, s in chunk], dtype=e.dtype)
            x = (e0[bi] + diff[bi] * a[:, None, None]).requires_grad_(True)
            out = encode(W, x, mask[bi])
            (g,) = torch.autograd.grad(_selected(out, t[bi]).sum(), x)
            total.index_add_(0, bi, g * w[:, None, None])
        R = (total * diff).sum(-1) * mask
        return Attribution(R.detach(), logits, t, _selected(logits, t) - base)


class Chefer(_Method):
    """Chefer et al. 2021: per layer A_bar = mean over heads of (grad_A * R_A)^+, rollout
    R <- R + A_bar R from the identity, relevance = the [CLS]/<s> row.

    R_A is the relevance of the attention map under stablex's LRP rules, normalised by the
    explained logit (the original starts LRP from relevance 1 at the output); grad_A is the
    plain gradient of the logit. The original computed R_A with its own LRP-alpha-beta modules,
    so this reproduces the method, not its exact numbers. Non-negative: 'importance for the
    explained class' without direction.
    """

    name = "chefer"
    rule_option = "softmax_rule"
    rules = ("identity", "attnlrp")  # not detach: it gives the attention maps no relevance
    input_point = "attention rollout, [CLS] row"

    @dataclass(frozen=True)
    class Options(Section):
        SECTION: ClassVar[str] = "explain.chefer"
        softmax_rule: str = option(
            CHEFER_SOFTMAX_RULE,
            rule=one_of("identity", "attnlrp"),
            help="The rules behind chefer's attention relevance (not detach: no relevance reaches the attention maps)",
        )
        start_layer: int = option(
            0, rule=at_least(0), help="First layer of the rollout (0: all; the paper preset: 1, the authors' code)"
        )

    def __init__(
        self,
        model: torch.nn.Module | Sequence[torch.nn.Module],
        softmax_rule: str = Options.softmax_rule,
        start_layer: int = Options.start_layer,
        shared_layers: int = 0,
    ):
        self.Options(softmax_rule=softmax_rule, start_layer=start_layer)  # the one check of the values
        super().__init__(model, shared_layers)
        self.rules = Rules.lrp(softmax_rule)
        if start_layer >= self.W.n_layers:  # what only the model knows
            raise StablexError(
                f"[explain.chefer] start_layer = {start_layer}: must be in 0..{self.W.n_layers - 1} "
                "(the layers of this encoder)"
            )
        self.start_layer = start_layer

    def _attn_grads(self, ids, mask, rules: Rules, targets: Sequence) -> Iterator[_Pass]:
        e = embed(self.W, ids).requires_grad_(True)
        return _passes(self.Ws, e, mask, rules, Capture(attention=True), targets, self.shared)

    def _seeds(self, batch: Batch, targets: list[torch.Tensor | None]) -> list[Attribution]:
        ids, mask = self._inputs(batch)
        chosen: list[torch.Tensor] = []  # the plain pass explains the class the LRP pass chose
        plain = self._attn_grads(ids, mask, Rules(), chosen)
        out = []
        for p_lrp in self._attn_grads(ids, mask, self.rules, targets):  # one model's maps at a time
            chosen.append(p_lrp.target)
            p_plain = next(plain)
            logits, t = p_lrp.logits, p_lrp.target
            g_lrp, g_plain, probs = p_lrp.grads[1:], p_plain.grads[1:], p_lrp.cap.probs
            sel = _selected(logits, t)
            scale = torch.where(sel.abs() < 1e-6, torch.full_like(sel, 1e-6), sel)[:, None, None, None]
            B, T = ids.shape
            R = torch.eye(T, dtype=logits.dtype).expand(B, T, T).clone()
            for layer in range(self.start_layer, self.W.n_layers):
                rel_a = 0.5 * probs[layer] * g_lrp[layer] / scale  # A's half of A.V, from relevance 1
                cam = (g_plain[layer] * rel_a).clamp(min=0).mean(1)  # [B, T, T]
                R = R + torch.bmm(cam, R)
            out.append(Attribution((R[:, 0] * mask).detach(), logits, t))
        return out


class RandomRanking(_Method):
    """The ranking a faithful method must beat (ERASER's random baseline): faithfulness draws a
    uniform permutation of a text's *words* (`rank_words`), so every word, whatever its number of
    tokens, is equally likely at every rank. `attribute` (standard normal relevance per token) is
    kept for token-level uses only: summed into words it would favour long words. `seed` fixes
    the draws; successive calls continue the same stream."""

    name = "random"
    is_floor = True
    input_point = "none (random)"

    # no Options: its `seed` is faithfulness's, per scored seed, not a study option (and its
    # identity stays {} as in runs made before method tables)

    def __init__(self, model: torch.nn.Module | None = None, seed: int = 0, shared_layers: int = 0):
        # shared_layers: accepted as every method's (Resolved.make); a random ranking reads no model
        self.rng = np.random.default_rng(seed)

    def rank_words(self, n_words: int) -> np.ndarray:
        """Scores whose descending order is a uniformly random ranking of `n_words` words."""
        return self.rng.permutation(n_words).astype(np.float64)

    def attribute(self, batch: Batch, target: torch.Tensor | None = None) -> Attribution:
        if target is None:
            raise StablexError("random: a baseline ranks words toward the class a method explained; give `target`")
        B, T = batch.input_ids.shape
        t = torch.as_tensor(target, dtype=torch.long)
        return Attribution(torch.from_numpy(self.rng.standard_normal((B, T))), torch.zeros(B, 0), t)


def _registered(name: str) -> type[_Method]:
    cls = METHODS.get(name) or BASELINES.get(name)
    if cls is None:
        raise StablexError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return cls


@dataclass(frozen=True)
class Resolved:
    """A method name resolved once: its class and its checked options."""

    cls: type[_Method]
    options: Section

    @property
    def name(self) -> str:
        return self.cls.name

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self.options, f.name) for f in dataclasses.fields(self.options)}

    def identity(self) -> dict[str, Any]:
        """The options the relevances depend on (not the volatile ones, such as batching)."""
        return {
            f.name: getattr(self.options, f.name)
            for f in dataclasses.fields(self.options)
            if not declaration(f).get("volatile")
        }

    def make(self, model: torch.nn.Module | Sequence[torch.nn.Module], shared_layers: int = 0) -> Attributor:
        return self.cls(model, **self.kwargs(), shared_layers=shared_layers)

    def record(self) -> dict[str, Any]:
        """What a summary says about the method: where relevance is read and, for the LRP-type
        methods, the rule set by name with its reference (`summary["rule"]`)."""
        rec: dict[str, Any] = {"input_point": self.cls.input_point}
        if self.cls.rule_option:
            rec["rule"] = rule_record(getattr(self.options, self.cls.rule_option))
        return rec


def resolve(name: str, config: Any = None) -> Resolved:
    """Method `name` with its options from an ExplainConfig's `[explain.<name>]` table (None:
    its defaults); an unknown name or a bad option is one error naming it."""
    cls = _registered(name)
    table = config.method_table(name) if config is not None else {}
    known = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise StablexError(
            f"[explain.{name}] unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )
    return Resolved(cls, cls.Options(**table))


def get_method(name: str, model: torch.nn.Module | Sequence[torch.nn.Module], **options: Any) -> Attributor:
    """The attributor called `name` (a method or a baseline) for `model`, or for several seeds'
    models (`attribute_seeds`; `shared_layers=k` when they share their lower k layers); options
    are its keyword arguments."""
    return _registered(name)(model, **options)


def method_options(name: str, config: Any) -> dict[str, Any]:
    """The keyword arguments of method `name` taken from an ExplainConfig."""
    return resolve(name, config).kwargs()


def method_identity(name: str, config: Any) -> dict[str, Any]:
    """The options the relevances depend on (not the volatile ones, such as batching)."""
    return resolve(name, config).identity()


def is_baseline(name: str) -> bool:
    return _registered(name).is_floor is True


def check_rules(name: str, config: Any) -> None:
    """Method `name`'s options are ones it accepts (one error naming `[explain.<name>] option`)."""
    resolve(name, config)


def method_record(name: str, config: Any) -> dict[str, Any]:
    """What a summary says about method `name` (Resolved.record)."""
    return resolve(name, config).record()
