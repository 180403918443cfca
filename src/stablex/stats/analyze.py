"""The analyze stage: statistics of one method's explanations across seeds.

Writes RUN/analysis/<method>/{summary.json, per_text.parquet, per_word.parquet,
lexicon.parquet} (atomic writes) and returns an AnalysisResult. Texts are processed in
blocks of equal word count ([texts, seeds, words] arrays, no padding); every statistic is
vectorised over texts, seeds and words. See docs/analysis.md for every definition.

Randomness (bootstrap draws, reliability-curve permutations) comes from one generator
seeded with 0: the same run and configuration give the same artefacts.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stablex.config import AnalyzeConfig
from stablex.config_checks import check_section
from stablex.errors import StablexError
from stablex.io import read_json, write_json, write_parquet
from stablex.stats import agreement, reliability, sources
from stablex.stats.equivalence import equivalence, select_equivalent
from stablex.stats.intervals import multi_bootstrap, quantile_interval, seed_weights, seeds_needed, spearman_brown
from stablex.stats.lexicon import lexicon
from stablex.stats.load import (explanation_seeds, load_explanations, read_classes, read_seed_metrics,
                                split_correctness, study_bootstrap, test_accuracy)

CURVE_REPEATS = 20
RNG_SEED = 0
BLOCK_BYTES = 256 * 2**20  # working memory per block of texts
CORRELATION_METRICS = ("spearman", "pearson", "pairwise_rank")


@dataclass
class AnalysisResult:
    method: str
    run_dir: Path
    seeds: list[int]
    n_texts: int
    n_words: int
    summary: dict
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def metric_names(ks: list[int]) -> list[str]:
    """Per-text metrics that have seed-bootstrap replicates (so per-text intervals too)."""
    return [f"{m}_{k}" for k in ks for m in ("fa", "ra", "sa", "sra")] + list(CORRELATION_METRICS) + [
        "signal", "noise", "snr"]


def analyze(run_dir: Path, method: str, config: AnalyzeConfig, progress: Any = None) -> AnalysisResult:
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    classes = read_classes(run_dir)
    check_section(config, "analyze")
    ks = sorted(set(config.k))
    available = explanation_seeds(run_dir, method)
    seed_metrics = read_seed_metrics(run_dir, available)
    accuracies, n_test = test_accuracy(seed_metrics)
    summary: dict[str, Any] = {"method": method, "config": asdict(config), "classes": classes}
    summary["accuracy"] = _accuracy_section(accuracies, n_test)
    seeds = available
    if config.equivalent is not None:
        missing = [s for s in available if s not in accuracies]
        if missing:
            raise StablexError(f"--equivalent needs the test accuracy of every seed; missing for {missing}")
        if not 2 <= config.equivalent <= len(available):
            raise StablexError(f"--equivalent {config.equivalent}: choose between 2 and {len(available)} seeds")
        seeds = select_equivalent({s: accuracies[s] for s in available}, config.equivalent)
    summary["equivalent"] = config.equivalent
    if len(seeds) < 2:
        raise StablexError(f"{method}: analysis across seeds needs at least 2 seeds, found {len(seeds)}")
    ex = load_explanations(run_dir, method, seeds, classes)
    t_load = time.perf_counter() - t0
    S, T, N, B = len(seeds), len(ex.doc_ids), ex.R.shape[1], config.bootstrap
    rng = np.random.default_rng(RNG_SEED)
    weights = seed_weights(S, B, rng)
    perms = np.stack([rng.permutation(S) for _ in range(CURVE_REPEATS)])
    grid = reliability.curve_grid(S)
    plans = [seed_metrics.get(s, {}) for s in seeds]
    dsg = sources.design(plans, study_bootstrap(run_dir) or any(p.get("bootstrap") is True for p in plans))

    names = metric_names(ks)
    point = {m: np.full(T, np.nan) for m in names}
    reps = {m: np.full((T, B), np.nan, np.float32) for m in names}
    text_cols = {m: np.full(T, np.nan) for m in ("half_r", "half_r_lo", "half_r_hi", "half_r_n", "split_reliability",
                                                 "single_seed_reliability", "seeds_needed")}
    curve = np.full((T, len(grid)), np.nan)
    src_cols: dict[str, np.ndarray] = {}
    src_var: dict[str, np.ndarray] = {}
    word_cols = {m: np.full(N, np.nan) for m in ("mean", "sd", "cv", "sign_consistency", "consensus_lo", "consensus_hi")}

    lengths = ex.n_words
    blocks = _blocks(lengths, S, B, len(grid))
    task = progress.add_task(f"analyze {method}", total=len(blocks)) if progress is not None else None
    for L, ts in blocks:
        pos = ex.offsets[ts][:, None] + np.arange(L)  # [Tb, L]
        X = np.ascontiguousarray(ex.R[:, pos].transpose(1, 0, 2))  # [Tb, S, L]
        for name, A in agreement.all_pairs(X, ks).items():
            point[name][ts] = agreement.pair_mean(A)
            reps[name][ts] = agreement.pair_replicates(A, weights)
        if L < agreement.MIN_WORDS_CORRELATION:
            for name in CORRELATION_METRICS:
                point[name][ts] = np.nan
                reps[name][ts] = np.nan
        sig, noi, snr = reliability.signal_noise(X)
        point["signal"][ts], point["noise"][ts], point["snr"][ts] = sig, noi, snr
        sig_b, noi_b, means_b = reliability.signal_noise_replicates(X, weights)
        reps["signal"][ts], reps["noise"][ts] = sig_b, noi_b
        reps["snr"][ts] = reliability.snr(sig_b, noi_b)
        lo, hi = quantile_interval(means_b, axis=1)  # [Tb, L] consensus bands
        flat = pos.ravel()
        word_cols["consensus_lo"][flat], word_cols["consensus_hi"][flat] = lo.ravel(), hi.ravel()
        for name, v in reliability.per_word(X).items():
            word_cols[name][flat] = v.ravel()
        r, n, rlo, rhi = reliability.half_split(X)
        text_cols["half_r"][ts], text_cols["half_r_lo"][ts], text_cols["half_r_hi"][ts] = r, rlo, rhi
        text_cols["half_r_n"][ts] = n
        sr, rho1, need = reliability.split_reliability(X, config.target_reliability)
        text_cols["split_reliability"][ts], text_cols["single_seed_reliability"][ts] = sr, rho1
        text_cols["seeds_needed"][ts] = need
        if L >= 2 and grid:
            curve[ts] = reliability.consensus_curve(X, perms, grid).mean(1)
        if dsg.informative:
            var = sources.variances(X, dsg)
            for label, v in sources.shares_per_text(var, dsg.reference, B, rng).items():
                src_cols.setdefault(label, np.full(T, np.nan))[ts] = v
            for label, v in var.items():
                src_var.setdefault(label, np.full(T, np.nan))[ts] = v.mean(-1)
        if task is not None:
            progress.advance(task)
    t_stats = time.perf_counter() - t0 - t_load

    boot_rng = np.random.default_rng(RNG_SEED + 1)
    summary.update(_overview(ex, seeds, dsg))
    summary["metrics"] = {m: multi_bootstrap(reps[m], point[m], B, boot_rng) for m in names}
    for m in ("half_r", "split_reliability", "seeds_needed"):
        summary["metrics"][m] = multi_bootstrap(None, text_cols[m], B, boot_rng)
    summary["reliability"] = _curve_section(curve, grid, config.target_reliability)
    summary["sources"] = _sources_section(dsg, src_var, B, boot_rng)
    if dsg.informative:
        try:  # accuracy shares need every seed's predictions (hand-made runs may lack them)
            _, correct = split_correctness(run_dir, seeds)
        except StablexError:
            correct = np.zeros((0, 0), bool)
        if correct.size:
            summary["sources"]["accuracy"] = sources.accuracy_shares(correct, dsg, B, boot_rng)

    types_arr = pc.utf8_lower(ex.words).dictionary_encode()
    lex_table, summary["lexicon"] = lexicon(ex.R, ex.pos_text, types_arr.indices.to_numpy().astype(np.int64),
                                            types_arr.dictionary.to_pylist(), ex.targets, classes,
                                            ex.reference if ex.reference is not None else 0)
    summary["timings"] = {"load_seconds": t_load, "stats_seconds": t_stats,
                          "total_seconds": time.perf_counter() - t0}

    out = run_dir / "analysis" / method
    paths = {name: out / name for name in ("summary.json", "per_text.parquet", "per_word.parquet", "lexicon.parquet")}
    write_parquet(paths["per_text.parquet"], _per_text_table(ex, point, reps, text_cols, src_cols))
    write_parquet(paths["per_word.parquet"], _per_word_table(ex, word_cols, S))
    write_parquet(paths["lexicon.parquet"], lex_table)
    summary = clean(summary)
    write_json(paths["summary.json"], summary)
    return AnalysisResult(method, run_dir, seeds, T, N, summary, paths, time.perf_counter() - t0)


def _blocks(lengths: np.ndarray, S: int, B: int, G: int) -> list[tuple[int, np.ndarray]]:
    """Texts grouped by word count, each group cut so one block's arrays fit BLOCK_BYTES."""
    out = []
    for L in np.unique(lengths):
        ts = np.flatnonzero(lengths == L)
        P = min(L * (L - 1) // 2, agreement.MAX_PAIRS)
        per_text = 4 * (S * max(3 * L, P) * 4 + 3 * B * L + 14 * S * S + 2 * S * B + 4 * CURVE_REPEATS * G * L) + 1
        size = max(1, int(BLOCK_BYTES // per_text))
        out.extend((int(L), ts[i:i + size]) for i in range(0, len(ts), size))
    return out


def _accuracy_section(accuracies: dict[int, float], n_test: int | None) -> dict:
    if not accuracies:
        return {"available": False, "reason": "no seeds/<seed>/metrics.json with accuracy.test"}
    if n_test is None:
        return {"available": False, "reason": "metrics.json has no n.test (test split size)",
                "by_seed": {str(s): a for s, a in sorted(accuracies.items())}}
    eq = equivalence(accuracies, n_test).to_dict()
    eq["available"] = True
    eq["by_seed"] = {str(s): a for s, a in sorted(accuracies.items())}
    return eq


def _overview(ex, seeds: list[int], dsg: sources.SourceDesign) -> dict:
    S, T = ex.targets.shape
    K = len(ex.classes)
    counts = np.zeros((T, K), np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(T), (S, T)).ravel(), ex.targets.ravel().astype(np.int64)), 1)
    return {
        "seeds": seeds, "n_seeds": S, "n_texts": T, "n_words": int(ex.R.shape[1]),
        "words_per_text": {"min": int(ex.n_words.min()), "median": float(np.median(ex.n_words)),
                           "max": int(ex.n_words.max())},
        "dropped": ex.dropped,
        "sign_convention": (f"relevance toward '{ex.classes[ex.reference]}' (sign flipped where a seed explained "
                            f"'{ex.classes[1 - ex.reference]}')" if ex.reference is not None
                            else "relevance toward each seed's target class (no conversion with more than 2 classes)"),
        "target_agreement_mean": float((counts.max(1) / S).mean()),
        "rng_seed": RNG_SEED,
    }


def _curve_section(curve: np.ndarray, grid: list[int], target: float) -> dict:
    if not grid:
        return {"available": False, "reason": "fewer than 2 seeds"}
    ok = np.isfinite(curve).all(1)
    if not ok.any():
        return {"available": False, "reason": "no text with at least 2 words"}
    measured = np.median(curve[ok], axis=0)
    rho1 = reliability.fit_single_seed(grid, list(measured))
    fitted = [float(spearman_brown(rho1, s)) for s in grid] if rho1 is not None else [None] * len(grid)
    need = seeds_needed(rho1, target) if rho1 is not None else None
    return {
        "available": True, "target": target, "repeats": CURVE_REPEATS, "n_texts": int(ok.sum()),
        "definition": "median over texts of the correlation between the consensus of S seeds and of S other seeds",
        "single_seed_reliability": rho1, "seeds_needed": need,
        "curve": [{"seeds": int(s), "measured": float(m), "fitted": f} for s, m, f in zip(grid, measured, fitted)],
    }


def _sources_section(dsg: sources.SourceDesign, src_var: dict[str, np.ndarray], B: int,
                     rng: np.random.Generator) -> dict:
    base = {"active_sources": list(dsg.sources), "pairs": dsg.n_pairs, "reference": dsg.reference}
    if not dsg.informative:
        return {**base, "available": False,
                "reason": "no pinned sources: every seed pair differs in every source"}
    ok = np.all([np.isfinite(v) for v in src_var.values()], axis=0)
    shares = sources.overall_shares({k: v[ok] for k, v in src_var.items()}, dsg.reference, B, rng)
    return {**base, "available": True, "shares": shares}


def _float(a: np.ndarray) -> pa.Array:
    a = np.asarray(a, np.float64)
    return pa.array(a, pa.float64(), mask=~np.isfinite(a))


def _per_text_table(ex, point, reps, text_cols, src_cols) -> pa.Table:
    S, T = ex.targets.shape
    counts = np.zeros((T, len(ex.classes)), np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(T), (S, T)).ravel(), ex.targets.ravel().astype(np.int64)), 1)
    cols: dict[str, pa.Array] = {
        "doc_id": pa.array(ex.doc_ids, pa.string()),
        "n_words": pa.array(ex.n_words.astype(np.int32)),
        "n_seeds": pa.array(np.full(T, S, np.int32)),
        "target_agreement": _float(counts.max(1) / S),
    }
    for m, v in point.items():
        lo, hi = quantile_interval(reps[m], axis=1)
        cols[m], cols[f"{m}_lo"], cols[f"{m}_hi"] = _float(v), _float(lo), _float(hi)
    for m, v in text_cols.items():
        cols[m] = _float(v)
    for m, v in src_cols.items():
        cols[m] = _float(v)
    return pa.table(cols)


def _per_word_table(ex, word_cols, S: int) -> pa.Table:
    N = ex.R.shape[1]
    cols = {
        "doc_id": pa.array(ex.doc_ids, pa.string()).take(pa.array(ex.pos_text)),
        "word_index": pa.array(ex.word_index.astype(np.int32)),
        "word": ex.words,
        "n_seeds": pa.array(np.full(N, S, np.int32)),
    }
    for m in ("mean", "sd", "cv", "sign_consistency"):
        cols[m] = _float(word_cols[m])
    cols["consensus"] = _float(word_cols["mean"])
    cols["consensus_lo"], cols["consensus_hi"] = _float(word_cols["consensus_lo"]), _float(word_cols["consensus_hi"])
    return pa.table(cols)


def clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null (summary.json never holds NaN)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --- printing -------------------------------------------------------------------------------

HEADLINE = ("fa_{k}", "ra_{k}", "sa_{k}", "sra_{k}", "spearman", "pearson", "pairwise_rank", "half_r",
            "snr", "split_reliability")


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_table(result: AnalysisResult | dict):
    """A rich Table of the corpus-level figures: median [q1, q3] and the median's interval."""
    from rich.table import Table

    s = result.summary if isinstance(result, AnalysisResult) else result
    ks = s["config"]["k"]
    table = Table(title=f"{s['method']}: {s['n_seeds']} seeds x {s['n_texts']} texts")
    for col in ("metric", "median", "q1-q3", "95% CI (median)", "texts"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for pattern in HEADLINE:
        for name in sorted({pattern.format(k=k) for k in ks}):
            m = s["metrics"].get(name)
            if m is None:
                continue
            ci = m.get("median_ci")
            table.add_row(name, _fmt(m["median"]), f"{_fmt(m['q1'])}-{_fmt(m['q3'])}",
                          "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                          f"{m['n_texts']}" + (f" (+{m['n_undefined']} undef.)" if m["n_undefined"] else ""))
    rel = s.get("reliability", {})
    if rel.get("available"):
        table.add_row("seeds for reliability " + f"{rel['target']:.2f}", str(rel["seeds_needed"] or "-"),
                      "", f"1-seed rel. {_fmt(rel['single_seed_reliability'])}", "")
    return table


def side_by_side(run_dir: Path, metric_keys: tuple[str, ...] = ("fa_5", "fa_10", "spearman", "pearson",
                                                                 "pairwise_rank", "half_r", "snr")):
    """Medians of every analysed method of a run, one column per method (rich Table)."""
    from rich.table import Table

    root = Path(run_dir) / "analysis"
    summaries = {p.parent.name: read_json(p) for p in sorted(root.glob("*/summary.json"))}
    table = Table(title="methods side by side (median over texts [95% CI])")
    table.add_column("metric")
    for name in summaries:
        table.add_column(name, justify="right")
    for key in metric_keys:
        row = [key]
        for s in summaries.values():
            m = s.get("metrics", {}).get(key) or {}
            ci = m.get("median_ci")
            row.append(_fmt(m.get("median")) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        table.add_row(*row)
    return table
