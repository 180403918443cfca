"""`stablex faithfulness`: ERASER comprehensiveness and sufficiency (DeYoung et al. 2020).

For a sample of texts, one seed's model and each method: rank the words by relevance toward
the explained class (highest first), then for k in 1, 5, 10, 20, 50 % of the words (at
least one word):

- comprehensiveness_k = p(y | x) - p(y | x without the top-k words): high is faithful;
- sufficiency_k = p(y | x) - p(y | only the top-k words): low is faithful;

AOPC is their mean over k, averaged over texts, with a 95 % bootstrap interval over texts
(scipy.stats.bootstrap) and, for each pair of rankings, the paired interval of their
difference on the same texts (`vs`): that is what says whether a method beats the random
ranking. Removing a word removes its tokens (special tokens stay), as
ERASER deletes tokens rather than masking them. A `random` ranking is always scored as the
floor a method must beat. Written to RUN/explanations/faithfulness.json (test split) or
RUN/explanations/faithfulness@<split>.json, one entry per method (later calls add methods).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from rich.progress import Progress

from stablex.config import ExplainConfig
from stablex.errors import StablexError
from stablex.explain.methods import BASELINES, get_method, is_baseline, method_identity, method_options
from stablex.explain.stage import check_config, length_batches, resolve_target, select_texts
from stablex.explain.words import aggregate
from stablex.stats.intervals import bootstrap_mean_ci
from stablex.io import read_json, write_json
from stablex.progress import progress_or
from stablex.rundir import open_run

FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)


@dataclass
class FaithfulnessResult:
    path: Path
    methods: dict = field(default_factory=dict)  # method -> scores


def top_k(n_words: int, fraction: float) -> int:
    return max(1, math.ceil(fraction * n_words))


def perturb(ids: np.ndarray, special: np.ndarray, token_word: np.ndarray, chosen: np.ndarray) -> tuple[list, list]:
    """(ids without the chosen words, ids with only the chosen words); special tokens kept in both."""
    hit = np.isin(token_word, chosen) & ~special
    real = ~special
    return ids[~hit].tolist(), ids[special | (hit & real)].tolist()


def _probabilities(model, seqs: list[list[int]], target: np.ndarray, pad_id: int, batch_size: int) -> np.ndarray:
    """p(target | sequence) for token-id sequences of any length (length-sorted batches)."""
    out = np.zeros(len(seqs))
    lengths = np.array([len(s) for s in seqs])
    with torch.inference_mode():
        for idx in length_batches(lengths, batch_size, batch_size * 512):
            T = int(lengths[idx].max())
            ids = torch.full((len(idx), T), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : lengths[i]] = torch.tensor(seqs[i])
                mask[r, : lengths[i]] = 1
            p = torch.softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            out[idx] = p[torch.arange(len(idx)), torch.from_numpy(target[idx])].numpy()
    return out


def mean_ci(values: np.ndarray, n_resamples: int, seed: int) -> list[float | None]:
    """95 % BCa bootstrap interval of a mean over texts ([None, None] when undefined)."""
    return bootstrap_mean_ci(values, n_resamples, seed, method="BCa") or [None, None]


def compare(scored: dict, n_resamples: int, seed: int) -> None:
    """Per method: AOPC intervals, and paired intervals (same texts) of its difference with the
    random ranking and with every other method, oriented so that positive means more faithful."""
    per = {m: {k: np.asarray(v["per_text"][k], float) for k in ("comprehensiveness", "sufficiency")}
           for m, v in scored.items() if "per_text" in v}
    for m, v in scored.items():
        if m not in per:
            continue
        for key in ("comprehensiveness", "sufficiency"):
            v[f"{key}_ci"] = mean_ci(per[m][key], n_resamples, seed)
        vs = {}
        for other in per:
            if other == m or len(per[other]["comprehensiveness"]) != len(per[m]["comprehensiveness"]):
                continue
            dc = per[m]["comprehensiveness"] - per[other]["comprehensiveness"]
            ds = per[other]["sufficiency"] - per[m]["sufficiency"]  # lower sufficiency is better
            vs[other] = {"comprehensiveness_gain": float(dc.mean()), "comprehensiveness_gain_ci": mean_ci(dc, n_resamples, seed),
                         "sufficiency_gain": float(ds.mean()), "sufficiency_gain_ci": mean_ci(ds, n_resamples, seed)}
        v["vs"] = vs


def faithfulness(run_dir: str | Path, methods: list[str], config: ExplainConfig, n_texts: int | None = None,
                 seed: int | None = None, sample_seed: int = 0, progress: Progress | None = None,
                 show_progress: bool = True, only_missing: bool = False) -> FaithfulnessResult:
    """Score `methods` (plus a random ranking) on `n_texts` of the explained texts for one seed.

    The sample is drawn from the texts `stablex explain` covers (select_texts), so faithfulness
    and stability rest on the same texts. `only_missing`: methods already scored on the same
    sample are kept as they are (what `stablex run` does)."""
    for m in methods:
        check_config(config, m)
    run = open_run(run_dir)
    header, texts, rows = _sample(run, config, n_texts, seed, sample_seed)
    seed = header["seed"]
    path = run.faithfulness_path(config.split)
    scored = _scored(path, header)
    todo = [m for m in methods if not (only_missing and _current(scored, m, config))]
    todo += [b for b in BASELINES if not _current(scored, b, config)]
    result = FaithfulnessResult(path=path)
    if todo:
        if all(is_baseline(m) for m in todo):  # a baseline needs the explained class of one real method
            todo = [*methods[:1], *todo]
        _score(run, texts, rows, seed, sample_seed, todo, config, scored, progress, show_progress)
    compare(scored, config.faithfulness_bootstrap, sample_seed)
    result.methods = {m: scored[m] for m in [*methods, *BASELINES] if m in scored}
    write_json(path, {**header, "note": "comprehensiveness: higher is more faithful; sufficiency: lower is. "
                      "*_ci: 95% bootstrap over texts; vs.<other>.*_gain: paired difference, positive = more "
                      "faithful than <other>", "bootstrap": config.faithfulness_bootstrap, "methods": scored})
    return result


def _sample(run, config: ExplainConfig, n_texts: int | None, seed: int | None, sample_seed: int):
    """(header, explained texts, sampled rows): what a stored result must match to be reused."""
    seeds = run.trained_seeds()
    if not seeds:
        raise StablexError(f"{run.path}: no trained seeds; run `stablex train` first")
    seed = seeds[0] if seed is None else seed
    texts = select_texts(run, config)
    n = min(n_texts or config.faithfulness_texts, len(texts.texts))
    rows = np.sort(np.random.default_rng(sample_seed).choice(len(texts.texts), n, replace=False))
    header = {"seed": seed, "split": config.split, "n_texts": int(n), "sample_seed": sample_seed,
              "target": config.target, "aggregate": config.aggregate, "fractions": list(FRACTIONS),
              "max_tokens": int(run.config().corpus.max_tokens), "explained_texts": len(texts.texts),
              "doc_ids": [texts.doc_ids[i] for i in rows]}
    return header, texts, rows


def _scored(path: Path, header: dict) -> dict:
    previous = read_json(path) if path.exists() else {}
    return previous.get("methods", {}) if {k: previous.get(k) for k in header} == header else {}


def missing_methods(run_dir: str | Path, methods: list[str], config: ExplainConfig, sample_seed: int = 0) -> list[str]:
    """The methods (and the baselines) not yet scored on the sample `faithfulness` would draw now."""
    run = open_run(run_dir)
    header, _, _ = _sample(run, config, None, None, sample_seed)
    scored = _scored(run.faithfulness_path(config.split), header)
    return [m for m in [*methods, *BASELINES] if not _current(scored, m, config)]


def _current(scored: dict, method: str, config: ExplainConfig) -> bool:
    """Scored on this sample with the method's current options (e.g. the same LRP rule)."""
    entry = scored.get(method) or {}
    opts = method_identity(method, config)
    return "per_text" in entry and entry.get("options") == json.loads(json.dumps(opts))


def _score(run, texts, rows: np.ndarray, seed: int, sample_seed: int, todo: list[str], config: ExplainConfig,
           scored: dict, progress, show_progress: bool) -> None:
    """Comprehensiveness and sufficiency per text for each ranking of `todo` (methods first,
    then baselines, which rank toward the class the methods explained), into `scored`."""
    from stablex.models.classifier import load_seed_model

    n = len(rows)
    sample = [texts.texts[i] for i in rows]
    fixed = resolve_target(config.target, run.classes(), texts.label_ids[rows])
    loaded = load_seed_model(run.path, seed)
    model = loaded.model
    pad_id = int(model.config.pad_token_id if model.config.pad_token_id is not None else 0)
    enc = loaded.encode(sample, int(run.config().corpus.max_tokens))
    ids_np, special = enc.input_ids.numpy(), np.asarray(enc.special_tokens_mask, bool)
    lengths = enc.attention_mask.sum(1).numpy()
    with progress_or(progress, disable=not show_progress) as prog, torch.inference_mode(False):
        task = prog.add_task("faithfulness", total=len(todo))
        target, p_full = None, None
        for method in todo:
            if is_baseline(method):
                if target is None:
                    raise StablexError(f"faithfulness needs at least one explanation method besides {method!r}")
                att, given = get_method(method, model, seed=sample_seed + 1), target
            else:
                att, given = get_method(method, model, **method_options(method, config)), fixed
            by_text, token_words, explained = _rankings(att, enc, sample, lengths, special, given, config)
            target = explained if target is None else target  # one model: every method explains the same class
            if p_full is None:  # the unperturbed texts: one model, one target, whatever the method
                p_full = _probabilities(model, [ids_np[i, :int(lengths[i])].tolist() for i in range(n)], target,
                                        pad_id, config.batch_size)
            c_k, s_k = _erase(model, ids_np, special, lengths, by_text, token_words, target, p_full,
                              pad_id, config.batch_size)
            scored[method] = _scores(c_k, s_k, method_identity(method, config))
            prog.advance(task)


def _rankings(att, enc, sample: list[str], lengths: np.ndarray, special: np.ndarray, given: np.ndarray | None,
              config: ExplainConfig) -> tuple[dict, dict, np.ndarray]:
    """Word relevance and token -> word maps per text, and the class each text was explained for."""
    rel_words, token_words = {}, {}
    explained = np.zeros(len(sample), np.int64)
    for idx in length_batches(lengths, config.batch_size, config.batch_tokens):
        T = int(lengths[idx].max())
        batch = SimpleNamespace(input_ids=enc.input_ids[idx, :T], attention_mask=enc.attention_mask[idx, :T],
                                special_tokens_mask=special[idx, :T])
        a = att.attribute(batch, None if given is None else torch.from_numpy(given[idx]))
        rel = a.relevance.numpy()
        explained[idx] = a.target.numpy()
        for r, i in enumerate(idx):
            w = aggregate(sample[i], rel[r], enc.offsets[i, :T], special[i, :T], config.aggregate)
            rel_words[i], token_words[i] = w.relevance, w.token_word
    return rel_words, token_words, explained


def _scores(c_k: np.ndarray, s_k: np.ndarray, options: dict) -> dict:
    """The record of one ranking: AOPC, per fraction and per text ([texts, fractions] drops)."""
    n = len(c_k)
    return {
        "comprehensiveness_aopc": float(c_k.mean()), "sufficiency_aopc": float(s_k.mean()),
        "comprehensiveness_se": float(c_k.mean(1).std(ddof=1) / np.sqrt(n)) if n > 1 else None,
        "sufficiency_se": float(s_k.mean(1).std(ddof=1) / np.sqrt(n)) if n > 1 else None,
        "comprehensiveness": {f"{f:g}": float(v) for f, v in zip(FRACTIONS, c_k.mean(0))},
        "sufficiency": {f"{f:g}": float(v) for f, v in zip(FRACTIONS, s_k.mean(0))},
        "per_text": {"comprehensiveness": c_k.mean(1).tolist(), "sufficiency": s_k.mean(1).tolist()},
        "options": options,
    }


def _erase(model, ids_np, special, lengths, by_text: dict, tw: dict, target, p_full, pad_id: int,
           batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """[texts, fractions] drops in p(target) without the top words (comp.) and with only them (suff.)."""
    n = len(lengths)
    comp, suff = [], []
    for i in range(n):
        T = int(lengths[i])
        order = np.argsort(-by_text[i], kind="stable")
        for f in FRACTIONS:
            c, s = perturb(ids_np[i, :T], special[i, :T], tw[i][:T], order[: top_k(len(order), f)])
            comp.append(c)
            suff.append(s)
    K = len(FRACTIONS)
    tgt_rep = np.repeat(target, K)
    p_comp = _probabilities(model, comp, tgt_rep, pad_id, batch_size).reshape(n, K)
    p_suff = _probabilities(model, suff, tgt_rep, pad_id, batch_size).reshape(n, K)
    return p_full[:, None] - p_comp, p_full[:, None] - p_suff
