"""`stablex faithfulness`: ERASER comprehensiveness and sufficiency (DeYoung et al. 2020).

For a sample of texts, the models of several seeds (`[explain] faithfulness_seeds`: one
explanation is one draw over seeds, so is its faithfulness) and each method: rank the words by
relevance toward the explained class (highest first), then for k in 1, 5, 10, 20, 50 % of the
words (at least one word):

- comprehensiveness_k = p(y | x) - p(y | x without the top-k words): high is faithful;
- sufficiency_k = p(y | x) - p(y | only the top-k words): low is faithful;

AOPC is their mean over k, averaged over texts and seeds, with a 95 % multi-bootstrap interval
that resamples texts and seeds together (`stats.intervals.multi_bootstrap`), and, for each pair
of rankings, the interval of their difference computed the same way on the same texts and seeds
(`vs`, paired): that is what says whether a method beats the random ranking or another method.
Removing a word removes its tokens (special tokens stay), as ERASER deletes tokens rather than
masking them.

The floor (every method of `BASELINES`, trait `is_floor`) ranks the *words* by a uniform random
permutation, drawn after aggregation: the token relevances of a random attribution summed into
words would favour words of many tokens (N(0, m) for m tokens), and removing a long word removes
more of the text. `faithfulness_permutations` permutations per text and seed are averaged
(ERASER's random baseline), so the floor's own variance enters its interval through the texts.

Written to RUN/explanations/faithfulness.json (test split) or
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
from stablex.progress import progress_or
from stablex.records import SCHEMA, FaithfulnessRecord
from stablex.rundir import open_run
from stablex.stats.intervals import bootstrap_mean_ci, multi_bootstrap, seed_weights

FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)


@dataclass
class FaithfulnessResult:
    path: Path
    methods: dict = field(default_factory=dict)  # method -> scores
    seeds: list[int] = field(default_factory=list)  # the seeds whose models were scored


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


def crossed_mean(X: np.ndarray, n_boot: int, seed: int) -> tuple[float, list[float | None]]:
    """Mean of X [seeds, texts] and its 95 % multi-bootstrap interval: each replicate draws the
    seeds (as multiplicities) and the texts with replacement, together. One seed: texts only.

    Every call with the same `seed` and shape makes the same draws, so two rankings' intervals
    and the interval of their difference rest on the same resampled texts and seeds."""
    X = np.atleast_2d(np.asarray(X, float))
    S, T = X.shape
    if n_boot < 1 or T < 2:
        return float(X.mean()), [None, None]
    rng = np.random.default_rng(seed)
    W = seed_weights(S, n_boot, rng)  # [B, S]
    reps = (W @ X).T / S if S > 1 else None  # [T, B]: each text's seed mean under replicate b's seed draw
    out = multi_bootstrap(reps, X.mean(0), n_boot, rng)
    return float(X.mean()), (out.get("mean_ci") or [None, None])


def _per_seed(entry: dict, key: str) -> np.ndarray:
    """[seeds, texts] per-text AOPCs of a stored entry (older files: one seed, `per_text`)."""
    if "per_seed" in entry:
        return np.asarray(entry["per_seed"][key], float)
    return np.asarray(entry["per_text"][key], float)[None, :]


def compare(scored: dict, n_resamples: int, seed: int) -> None:
    """Per ranking: AOPC intervals over texts and seeds, and paired intervals (same texts, same
    seeds, same draws) of its difference with every other ranking, oriented so that positive means
    more faithful."""
    per = {
        m: {k: _per_seed(v, k) for k in ("comprehensiveness", "sufficiency")}
        for m, v in scored.items()
        if "per_text" in v
    }
    for m, v in scored.items():
        if m not in per:
            continue
        for key in ("comprehensiveness", "sufficiency"):
            v[f"{key}_aopc"], v[f"{key}_ci"] = crossed_mean(per[m][key], n_resamples, seed)
        vs = {}
        for other in per:
            if other == m or per[other]["comprehensiveness"].shape != per[m]["comprehensiveness"].shape:
                continue
            dc = per[m]["comprehensiveness"] - per[other]["comprehensiveness"]
            ds = per[other]["sufficiency"] - per[m]["sufficiency"]  # lower sufficiency is better
            (gc, gc_ci), (gs, gs_ci) = crossed_mean(dc, n_resamples, seed), crossed_mean(ds, n_resamples, seed)
            vs[other] = {
                "comprehensiveness_gain": gc,
                "comprehensiveness_gain_ci": gc_ci,
                "sufficiency_gain": gs,
                "sufficiency_gain_ci": gs_ci,
            }
        v["vs"] = vs


def faithfulness(
    run_dir: str | Path,
    methods: list[str],
    config: ExplainConfig,
    n_texts: int | None = None,
    seed: int | None = None,
    sample_seed: int = 0,
    progress: Progress | None = None,
    show_progress: bool = True,
    only_missing: bool = False,
    seeds: list[int] | None = None,
) -> FaithfulnessResult:
    """Score `methods` (plus the random floor) on `n_texts` of the explained texts for several seeds.

    The seeds: `seeds`, else `[seed]`, else the first `config.faithfulness_seeds` trained seeds
    (0: every one). The sample is drawn from the texts `stablex explain` covers (select_texts), so
    faithfulness and stability rest on the same texts. `only_missing`: methods already scored on
    the same sample and seeds are kept as they are (what `stablex run` does)."""
    for m in methods:
        check_config(config, m)
    run = open_run(run_dir)
    header, texts, rows = _sample(
        run, config, n_texts, seeds if seeds is not None else (None if seed is None else [seed]), sample_seed
    )
    path = run.faithfulness_path(config.split)
    scored = _scored(path, header)
    todo = [m for m in methods if not (only_missing and _current(scored, m, config))]
    todo += [b for b in BASELINES if not _current(scored, b, config)]
    result = FaithfulnessResult(path=path, seeds=list(header["seeds"]))
    if todo:
        _score(run, texts, rows, header["seeds"], sample_seed, todo, config, scored, progress, show_progress)
    compare(scored, config.faithfulness_bootstrap, sample_seed)
    result.methods = {m: scored[m] for m in [*methods, *BASELINES] if m in scored}
    FaithfulnessRecord.from_dict(
        {
            **header,
            "note": "comprehensiveness: higher is more faithful; sufficiency: lower is. "
            "*_aopc: mean over texts and seeds; *_ci: 95% multi-bootstrap over texts and seeds; "
            "vs.<other>.*_gain: paired difference (same texts and seeds), positive = more faithful than "
            "<other>; per_seed: [seeds][texts]; the floor: uniform random word permutations, averaged",
            "bootstrap": config.faithfulness_bootstrap,
            "methods": scored,
            "baselines": [b for b in BASELINES if b in scored],
            "schema": SCHEMA,
        },
        path,
    ).write(path)
    return result


def faithfulness_seeds(trained: list[int], wanted: int) -> list[int]:
    """The first `wanted` trained seeds (0 or more than trained: all of them)."""
    return list(trained) if wanted == 0 else list(trained[:wanted])


def _sample(run, config: ExplainConfig, n_texts: int | None, seeds: list[int] | None, sample_seed: int):
    """(header, explained texts, sampled rows): what a stored result must match to be reused."""
    trained = run.trained_seeds()
    if not trained:
        raise StablexError(f"{run.path}: no trained seeds; run `stablex train` first")
    if seeds is None:
        seeds = faithfulness_seeds(trained, config.faithfulness_seeds)
    unknown = [s for s in seeds if s not in trained]
    if unknown:
        raise StablexError(f"faithfulness: seed(s) {unknown} not trained in {run.path} (trained: {trained})")
    texts = select_texts(run, config)
    n = min(n_texts or config.faithfulness_texts, len(texts.texts))
    rows = np.sort(np.random.default_rng(sample_seed).choice(len(texts.texts), n, replace=False))
    header = {
        "seeds": [int(s) for s in seeds],
        "seed": int(seeds[0]),
        "split": config.split,
        "n_texts": int(n),
        "sample_seed": sample_seed,
        "target": config.target,
        "aggregate": config.aggregate,
        "fractions": list(FRACTIONS),
        "permutations": int(config.faithfulness_permutations),
        "max_tokens": int(run.config().corpus.max_tokens),
        "explained_texts": len(texts.texts),
        "doc_ids": [texts.doc_ids[i] for i in rows],
    }
    return header, texts, rows


def _scored(path: Path, header: dict) -> dict:
    """The rankings already scored on this sample (none when the record is absent or was written
    by a stablex whose record this one cannot read: it is scored again)."""
    try:
        previous = FaithfulnessRecord.read(path, baselines=list(BASELINES))
    except StablexError:
        return {}
    if previous is None or {k: getattr(previous, k, None) for k in header} != header:
        return {}
    return previous.methods


def missing_methods(run_dir: str | Path, methods: list[str], config: ExplainConfig, sample_seed: int = 0) -> list[str]:
    """The methods (and the baselines) not yet scored on the sample and seeds `faithfulness` would use now."""
    run = open_run(run_dir)
    header, _, _ = _sample(run, config, None, None, sample_seed)
    scored = _scored(run.faithfulness_path(config.split), header)
    return [m for m in [*methods, *BASELINES] if not _current(scored, m, config)]


def _current(scored: dict, method: str, config: ExplainConfig) -> bool:
    """Scored on this sample with the method's current options (e.g. the same LRP rule)."""
    entry = scored.get(method) or {}
    opts = method_identity(method, config)
    return "per_seed" in entry and entry.get("options") == json.loads(json.dumps(opts))


def _score(
    run,
    texts,
    rows: np.ndarray,
    seeds: list[int],
    sample_seed: int,
    todo: list[str],
    config: ExplainConfig,
    scored: dict,
    progress,
    show_progress: bool,
) -> None:
    """Comprehensiveness and sufficiency per seed and text for each ranking of `todo`, into
    `scored`. Every ranking of one seed ranks toward the same class: the configured target, or
    the model's prediction on the whole text (what the methods explain)."""
    from stablex.models.classifier import load_seed_model

    n = len(rows)
    sample = [texts.texts[i] for i in rows]
    fixed = resolve_target(config.target, run.classes(), texts.label_ids[rows])
    drops: dict[str, list] = {m: [] for m in todo}
    with progress_or(progress, disable=not show_progress) as prog, torch.inference_mode(False):
        task = prog.add_task("faithfulness", total=len(todo) * len(seeds))
        for s in seeds:
            loaded = load_seed_model(run.path, s)
            model = loaded.model
            pad_id = int(model.config.pad_token_id if model.config.pad_token_id is not None else 0)
            enc = loaded.encode(sample, int(run.config().corpus.max_tokens))
            ids_np, special = enc.input_ids.numpy(), np.asarray(enc.special_tokens_mask, bool)
            lengths = enc.attention_mask.sum(1).numpy()
            full = [ids_np[i, : int(lengths[i])].tolist() for i in range(n)]
            target, p_full = _target_and_p(model, full, fixed, pad_id, config.batch_size)
            token_words = _word_maps(enc, sample, lengths, special, config.aggregate)
            for method in todo:
                if is_baseline(method):
                    att = get_method(method, model, seed=sample_seed + 1 + int(s))
                    runs = [
                        _erase(
                            model,
                            ids_np,
                            special,
                            lengths,
                            {i: att.rank_words(int(token_words[i].max()) + 1) for i in range(n)},
                            token_words,
                            target,
                            p_full,
                            pad_id,
                            config.batch_size,
                        )
                        for _ in range(config.faithfulness_permutations)
                    ]
                    c_k, s_k = np.mean([r[0] for r in runs], 0), np.mean([r[1] for r in runs], 0)
                else:
                    att = get_method(method, model, **method_options(method, config))
                    by_text, tw = _rankings(att, enc, sample, lengths, special, target, config)
                    c_k, s_k = _erase(
                        model, ids_np, special, lengths, by_text, tw, target, p_full, pad_id, config.batch_size
                    )
                drops[method].append((c_k, s_k))
                prog.advance(task)
    for method, per in drops.items():
        scored[method] = _scores(
            np.stack([c for c, _ in per]), np.stack([x for _, x in per]), seeds, method_identity(method, config)
        )


def _target_and_p(
    model, full: list[list[int]], fixed: np.ndarray | None, pad_id: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The class every ranking is scored toward and p(that class | whole text)."""
    if fixed is None:
        probs = np.stack(
            [
                _probabilities(model, full, np.full(len(full), k), pad_id, batch_size)
                for k in range(int(model.config.num_labels))
            ],
            1,
        )
        target = probs.argmax(1).astype(np.int64)
        return target, probs[np.arange(len(full)), target]
    target = np.asarray(fixed, np.int64)
    return target, _probabilities(model, full, target, pad_id, batch_size)


def _word_maps(enc, sample: list[str], lengths: np.ndarray, special: np.ndarray, how: str) -> dict:
    """token -> word index per text (the words every ranking, the floor's too, ranks)."""
    out = {}
    for i, text in enumerate(sample):
        T = int(lengths[i])
        out[i] = aggregate(text, np.zeros(T, np.float32), enc.offsets[i, :T], special[i, :T], how).token_word
    return out


def _rankings(
    att, enc, sample: list[str], lengths: np.ndarray, special: np.ndarray, given: np.ndarray, config: ExplainConfig
) -> tuple[dict, dict]:
    """Word relevance toward class `given` and token -> word maps per text."""
    rel_words, token_words = {}, {}
    for idx in length_batches(lengths, config.batch_size, config.batch_tokens):
        T = int(lengths[idx].max())
        batch = SimpleNamespace(
            input_ids=enc.input_ids[idx, :T],
            attention_mask=enc.attention_mask[idx, :T],
            special_tokens_mask=special[idx, :T],
        )
        rel = att.attribute(batch, torch.from_numpy(given[idx])).relevance.numpy()
        for r, i in enumerate(idx):
            w = aggregate(sample[i], rel[r], enc.offsets[i, :T], special[i, :T], config.aggregate)
            rel_words[i], token_words[i] = w.relevance, w.token_word
    return rel_words, token_words


def _scores(c_k: np.ndarray, s_k: np.ndarray, seeds: list[int], options: dict) -> dict:
    """The record of one ranking from its [seeds, texts, fractions] drops: per fraction, per text
    (mean over seeds), per seed and text, and per seed (AOPCs and intervals: `compare`)."""
    return {
        "comprehensiveness": {f"{f:g}": float(v) for f, v in zip(FRACTIONS, c_k.mean((0, 1)))},
        "sufficiency": {f"{f:g}": float(v) for f, v in zip(FRACTIONS, s_k.mean((0, 1)))},
        "per_text": {"comprehensiveness": c_k.mean((0, 2)).tolist(), "sufficiency": s_k.mean((0, 2)).tolist()},
        "per_seed": {"comprehensiveness": c_k.mean(2).tolist(), "sufficiency": s_k.mean(2).tolist()},
        "by_seed": {
            str(s): {"comprehensiveness_aopc": float(c_k[j].mean()), "sufficiency_aopc": float(s_k[j].mean())}
            for j, s in enumerate(seeds)
        },
        "options": options,
    }


def _erase(
    model, ids_np, special, lengths, by_text: dict, tw: dict, target, p_full, pad_id: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
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
