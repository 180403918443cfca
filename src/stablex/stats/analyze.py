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
from stablex.errors import StablexError
from stablex.io import read_json, write_parquet
from stablex.records import SCHEMA, AnalysisSummary, SeedMetrics
from stablex.rundir import Run
from stablex.stats import agreement, reliability, sources
from stablex.stats.accuracy import reading as accuracy_reading
from stablex.stats.accuracy import seed_accuracy
from stablex.stats.equivalence import equivalence, select_equivalent
from stablex.stats.intervals import multi_bootstrap, quantile_interval, seed_weights, seeds_needed, spearman_brown
from stablex.stats.lexicon import lexicon
from stablex.stats.load import (
    explanation_seeds,
    load_explanations,
    read_seed_metrics,
    split_correctness,
    study_bootstrap,
    test_accuracy,
    test_correctness,
)

CURVE_REPEATS = 20
RNG_SEED = 0
BLOCK_BYTES = 256 * 2**20  # working memory per block of texts
CORRELATION_METRICS = ("spearman", "pearson", "pairwise_rank")
# Seeds below which a metric's multi-bootstrap interval is withheld: the calibration
# (benchmarks/calibration.py, docs/analysis.md) measured the median noise's coverage at 88-91 %
# from 3 to 10 seeds (a seed's noise scale is skewed; resampling few of them misses the tail).
MIN_SEEDS_INTERVAL = {"noise": 20}


def interval_printed(metric: str, n_seeds: int) -> bool:
    """Whether analyze prints the corpus interval of `metric` at `n_seeds` seeds."""
    return n_seeds >= MIN_SEEDS_INTERVAL.get(metric, 2)


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
    return (
        [f"{m}_{k}" for k in ks for m in ("fa", "ra", "sa", "sra")]
        + list(CORRELATION_METRICS)
        + ["signal", "noise", "snr", "half_r"]
    )


@dataclass
class TextStatistics:
    """Every per-text and per-word statistic of one method's explanations, before summaries."""

    point: dict[str, np.ndarray]  # metric -> [T] value
    reps: dict[str, np.ndarray]  # metric -> [T, B] seed-bootstrap replicates
    text_cols: dict[str, np.ndarray]  # split-half and reliability columns, [T]
    curve: np.ndarray  # [T, grid] consensus reliability curve
    src_cols: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [T] share
    src_var: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [T] variance
    src_jack: list[dict[str, float]] = field(default_factory=list)  # without seed j: source -> summed variance
    word_cols: dict[str, np.ndarray] = field(default_factory=dict)  # [N] per word position


def analyze(run_dir: Path, method: str, config: AnalyzeConfig, progress: Any = None) -> AnalysisResult:
    """Compute the statistics of RUN/explanations/<method>/ and write RUN/analysis/<method>/."""
    t0 = time.perf_counter()
    run = Run(run_dir)
    classes = run.classes()
    seeds, seed_metrics = _choose_seeds(run, method, config)
    ex = load_explanations(run.path, method, seeds, classes)
    t_load = time.perf_counter() - t0
    recorded = [seed_metrics.get(s) for s in seeds]
    plans: list[dict] = [{} if m is None else m.sources() for m in recorded]
    dsg = sources.design(plans, study_bootstrap(run.path) or any(m is not None and m.bootstrap for m in recorded))
    stats = text_statistics(ex, config, dsg, progress, label=f"analyze {method}")
    t_stats = time.perf_counter() - t0 - t_load
    summary: dict[str, Any] = {
        "method": method,
        "config": asdict(config),
        "classes": classes,
        "accuracy": _accuracy_section(*test_accuracy(seed_metrics), run=run),
        "equivalent": config.equivalent,
    }
    summary.update(_summarise(ex, stats, seeds, dsg, config, _correctness(run, seeds) if dsg.informative else None))
    summary["timings"] = {"load_seconds": t_load, "stats_seconds": t_stats}
    lex_table, summary["lexicon"] = _lexicon(ex)
    summary["timings"]["total_seconds"] = time.perf_counter() - t0
    summary = clean(summary)
    paths = write_analysis(run, method, ex, stats, lex_table, summary)
    from stablex.stats.method_diff import write_stability_differences

    write_stability_differences(run, config.bootstrap)  # this method against every other analysed one
    return AnalysisResult(
        method, run.path, seeds, len(ex.doc_ids), ex.R.shape[1], summary, paths, time.perf_counter() - t0
    )


def _choose_seeds(run: Run, method: str, config: AnalyzeConfig) -> tuple[list[int], dict[int, SeedMetrics]]:
    """The explained seeds (or the `equivalent` most equivalent of them) and every explained
    seed's metrics.json."""
    available = explanation_seeds(run.path, method)
    seed_metrics = read_seed_metrics(run.path, available)
    accuracies, _ = test_accuracy(seed_metrics)
    seeds = available
    if config.equivalent is not None:
        missing = [s for s in available if s not in accuracies]
        if missing:
            raise StablexError(
                f"[analyze] equivalent = {config.equivalent}: needs the test accuracy of every seed; "
                f"missing for {missing}"
            )
        if not 2 <= config.equivalent <= len(available):
            raise StablexError(
                f"[analyze] equivalent = {config.equivalent}: choose between 2 and {len(available)} seeds"
            )
        seeds = select_equivalent({s: accuracies[s] for s in available}, config.equivalent)
    if len(seeds) < 2:
        raise StablexError(f"{method}: analysis across seeds needs at least 2 seeds, found {len(seeds)}")
    return seeds, seed_metrics


def _correctness(run: Run, seeds: list[int]) -> np.ndarray:
    """[S, n] test correctness, empty where some seed lacks predictions (hand-made runs)."""
    try:
        return split_correctness(run.path, seeds)[1]
    except StablexError:
        return np.zeros((0, 0), bool)


def text_statistics(
    ex, config: AnalyzeConfig, dsg: sources.SourceDesign, progress: Any = None, label: str = "analyze"
) -> TextStatistics:
    """Agreement, signal/noise, reliability and source shares of every text, block by block."""
    ks = sorted(set(config.k))
    S, T, N, B = len(ex.seeds), len(ex.doc_ids), ex.R.shape[1], config.bootstrap
    rng = np.random.default_rng(RNG_SEED)
    weights = seed_weights(S, B, rng)
    perms = np.stack([rng.permutation(S) for _ in range(CURVE_REPEATS)])
    grid = reliability.curve_grid(S)
    names = metric_names(ks)
    st = TextStatistics(
        point={m: np.full(T, np.nan) for m in names},
        reps={m: np.full((T, B), np.nan, np.float32) for m in names},
        text_cols={
            m: np.full(T, np.nan)
            for m in (
                "half_r_fisher_lo",
                "half_r_fisher_hi",
                "half_r_n",
                "split_reliability",
                "single_seed_reliability",
                "seeds_needed",
            )
        },
        curve=np.full((T, len(grid)), np.nan),
        word_cols={
            m: np.full(N, np.nan) for m in ("mean", "sd", "cv", "sign_consistency", "consensus_lo", "consensus_hi")
        },
    )
    blocks = _blocks(ex.n_words, S, B, len(grid))
    task = progress.add_task(label, total=len(blocks)) if progress is not None else None
    for L, ts in blocks:
        pos = ex.offsets[ts][:, None] + np.arange(L)  # [Tb, L]
        X = np.ascontiguousarray(ex.R[:, pos].transpose(1, 0, 2))  # [Tb, S, L]
        means_b = _agreement_block(st, X, ts, ks, weights)
        _reliability_block(st, X, ts, pos, means_b, config.target_reliability, perms, grid)
        if dsg.informative:
            var = sources.variances(X, dsg)
            for name, v in sources.shares_per_text(var, dsg.reference, B, rng).items():
                st.src_cols.setdefault(name, np.full(T, np.nan))[ts] = v
            for name, v in var.items():
                st.src_var.setdefault(name, np.full(T, np.nan))[ts] = v.mean(-1)
            if not st.src_jack:
                st.src_jack = [{} for _ in range(S)]
            for j in range(S):  # delete-one-model jackknife of the variance ratios
                for name, v in sources.variances(X, sources.drop_seed(dsg, j)).items():
                    st.src_jack[j][name] = st.src_jack[j].get(name, 0.0) + float(np.nansum(v.mean(-1)))
        if task is not None:
            progress.advance(task)
    return st


def _agreement_block(
    st: TextStatistics, X: np.ndarray, ts: np.ndarray, ks: list[int], weights: np.ndarray
) -> np.ndarray:
    """Pairwise agreement and signal/noise of a block; returns the bootstrap consensus [Tb, B, L]."""
    for name, A in agreement.all_pairs(X, ks).items():
        st.point[name][ts] = agreement.pair_mean(A)
        st.reps[name][ts] = agreement.pair_replicates(A, weights)
    if X.shape[2] < agreement.MIN_WORDS_CORRELATION:
        for name in CORRELATION_METRICS:
            st.point[name][ts] = np.nan
            st.reps[name][ts] = np.nan
    sig, noi, snr = reliability.signal_noise(X)
    st.point["signal"][ts], st.point["noise"][ts], st.point["snr"][ts] = sig, noi, snr
    sig_b, noi_b, means_b = reliability.signal_noise_replicates(X, weights)
    st.reps["signal"][ts], st.reps["noise"][ts] = sig_b, noi_b
    st.reps["snr"][ts] = reliability.snr(sig_b, noi_b)
    st.point["half_r"][ts] = reliability.half_split(X)[0]
    st.reps["half_r"][ts] = reliability.half_split_replicates(X, weights)
    return means_b


def _reliability_block(
    st: TextStatistics,
    X: np.ndarray,
    ts: np.ndarray,
    pos: np.ndarray,
    means_b: np.ndarray,
    target: float,
    perms: np.ndarray,
    grid: list[int],
) -> None:
    lo, hi = quantile_interval(means_b, axis=1)  # [Tb, L] consensus bands
    flat = pos.ravel()
    st.word_cols["consensus_lo"][flat], st.word_cols["consensus_hi"][flat] = lo.ravel(), hi.ravel()
    for name, v in reliability.per_word(X).items():
        st.word_cols[name][flat] = v.ravel()
    _, n, rlo, rhi = reliability.half_split(X)
    tc = st.text_cols
    tc["half_r_fisher_lo"][ts], tc["half_r_fisher_hi"][ts], tc["half_r_n"][ts] = rlo, rhi, n
    tc["split_reliability"][ts], tc["single_seed_reliability"][ts], tc["seeds_needed"][ts] = (
        reliability.split_reliability(X, target)
    )
    if X.shape[2] >= 2 and grid:
        st.curve[ts] = reliability.consensus_curve(X, perms, grid).mean(1)


def _summarise(
    ex,
    st: TextStatistics,
    seeds: list[int],
    dsg: sources.SourceDesign,
    config: AnalyzeConfig,
    correct: np.ndarray | None,
) -> dict:
    """Intervals over texts and seeds (multi-bootstrap) of every statistic, and the sections."""
    B = config.bootstrap
    boot_rng = np.random.default_rng(RNG_SEED + 1)
    out = _overview(ex, seeds, dsg)
    out["metrics"] = {m: multi_bootstrap(st.reps[m], st.point[m], B, boot_rng, n_seeds=len(seeds)) for m in st.point}
    for m, v in out["metrics"].items():
        if not interval_printed(m, len(seeds)):
            v["median_ci"] = v["mean_ci"] = None
            v["interval"] = (
                f"withheld: below {MIN_SEEDS_INTERVAL[m]} seeds its coverage is under 92 % "
                f"(docs/analysis.md, calibration)"
            )
    for m in ("split_reliability", "seeds_needed"):
        out["metrics"][m] = multi_bootstrap(None, st.text_cols[m], B, boot_rng)
    out["reliability"] = _curve_section(st.curve, reliability.curve_grid(len(seeds)), config.target_reliability)
    out["sources"] = _sources_section(dsg, st.src_var, B, boot_rng, st.src_jack)
    if correct is not None and correct.size:  # accuracy shares need every seed's predictions
        out["sources"]["accuracy"] = sources.accuracy_shares(correct, dsg, B, boot_rng)
    return out


def _lexicon(ex) -> tuple[pa.Table, dict]:
    types_arr = pc.utf8_lower(ex.words).dictionary_encode()
    return lexicon(
        ex.R,
        ex.pos_text,
        types_arr.indices.to_numpy().astype(np.int64),
        types_arr.dictionary.to_pylist(),
        ex.targets,
        ex.classes,
        ex.reference if ex.reference is not None else 0,
    )


def write_analysis(
    run: Run, method: str, ex, st: TextStatistics, lex_table: pa.Table, summary: dict
) -> dict[str, Path]:
    """The four artefacts of analysis/<method>/, each written atomically (summary last)."""
    paths = {
        name: run.analysis_path(method, name)
        for name in ("summary.json", "per_text.parquet", "per_word.parquet", "lexicon.parquet")
    }
    write_parquet(paths["per_text.parquet"], _per_text_table(ex, st.point, st.reps, st.text_cols, st.src_cols))
    write_parquet(paths["per_word.parquet"], _per_word_table(ex, st.word_cols, len(ex.seeds)))
    write_parquet(paths["lexicon.parquet"], lex_table)
    # through the record: a key the record does not declare is refused before anything is written
    AnalysisSummary.from_dict({**summary, "schema": SCHEMA}, paths["summary.json"]).write(paths["summary.json"])
    return paths


def _blocks(lengths: np.ndarray, S: int, B: int, G: int) -> list[tuple[int, np.ndarray]]:
    """Texts grouped by word count, each group cut so one block's arrays fit BLOCK_BYTES."""
    out: list[tuple[int, np.ndarray]] = []
    for L in np.unique(lengths):
        ts = np.flatnonzero(lengths == L)
        P = min(L * (L - 1) // 2, agreement.MAX_PAIRS)
        per_text = 4 * (S * max(3 * L, P) * 4 + 5 * B * L + 14 * S * S + 2 * S * B + 4 * CURVE_REPEATS * G * L) + 1
        size = max(1, int(BLOCK_BYTES // per_text))
        out.extend((int(L), ts[i : i + size]) for i in range(0, len(ts), size))
    return out


def _accuracy_section(accuracies: dict[int, float], n_test: int | None, run: Run | None = None) -> dict:
    if not accuracies:
        return {"available": False, "reason": "no seeds/<seed>/metrics.json with accuracy.test"}
    if n_test is None:
        return {
            "available": False,
            "reason": "metrics.json has no n.test (test split size)",
            "by_seed": {str(s): a for s, a in sorted(accuracies.items())},
        }
    eq = equivalence(accuracies, n_test).to_dict()
    eq["available"] = True
    correct = test_correctness(run.path, sorted(accuracies)) if run is not None else {}
    res = seed_accuracy(correct) if correct else None
    eq["seeds"] = res.to_dict() if res else None  # stablex's reading; the windows above replicate the study
    eq["reading"] = accuracy_reading(res)
    eq["by_seed"] = {str(s): a for s, a in sorted(accuracies.items())}
    return eq


def _overview(ex, seeds: list[int], dsg: sources.SourceDesign) -> dict:
    S, T = ex.targets.shape
    K = len(ex.classes)
    counts = np.zeros((T, K), np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(T), (S, T)).ravel(), ex.targets.ravel().astype(np.int64)), 1)
    return {
        "seeds": seeds,
        "n_seeds": S,
        "n_texts": T,
        "n_words": int(ex.R.shape[1]),
        "words_per_text": {
            "min": int(ex.n_words.min()),
            "median": float(np.median(ex.n_words)),
            "max": int(ex.n_words.max()),
        },
        "dropped": ex.dropped,
        "sign_convention": (
            f"relevance toward '{ex.classes[ex.reference]}' (sign flipped where a seed explained "
            f"'{ex.classes[1 - ex.reference]}')"
            if ex.reference is not None
            else "relevance toward each seed's target class (no conversion with more than 2 classes)"
        ),
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
        "available": True,
        "target": target,
        "repeats": CURVE_REPEATS,
        "n_texts": int(ok.sum()),
        "definition": "median over texts of the correlation between the consensus of S seeds and of S other seeds",
        "single_seed_reliability": rho1,
        "seeds_needed": need,
        "curve": [{"seeds": int(s), "measured": float(m), "fitted": f} for s, m, f in zip(grid, measured, fitted)],
    }


def _sources_section(
    dsg: sources.SourceDesign,
    src_var: dict[str, np.ndarray],
    B: int,
    rng: np.random.Generator,
    jack: list[dict[str, float]] | None = None,
) -> dict:
    base = {
        "active_sources": list(dsg.sources),
        "pairs": dsg.n_pairs,
        "reference": dsg.reference,
        "reference_pins": dsg.reference_pins,
    }
    if not dsg.informative:
        return {**base, "available": False, "reason": "no pinned sources: every seed pair differs in every source"}
    ok = np.all([np.isfinite(v) for v in src_var.values()], axis=0)
    shares = sources.overall_shares({k: v[ok] for k, v in src_var.items()}, dsg.reference, B, rng)
    out = {**base, "available": True, "shares": shares}
    if jack:
        total = {k: float(np.nansum(v)) for k, v in src_var.items()}
        out["variance_ratios"] = sources.variance_ratios(total, jack, dsg.reference, pins=dsg.reference_pins)
    return out


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
    # the seed-draw replicates of the per-text Spearman rho: what pairs two methods' medians under
    # the same draws (stats.method_diff); the draws are the same for every method of the run
    rep = np.asarray(reps["spearman"], np.float32)
    cols["spearman_replicates"] = pa.FixedSizeListArray.from_arrays(pa.array(rep.ravel(), pa.float32()), rep.shape[1])
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

HEADLINE = (
    "fa_{k}",
    "ra_{k}",
    "sa_{k}",
    "sra_{k}",
    "spearman",
    "pearson",
    "pairwise_rank",
    "half_r",
    "snr",
    "split_reliability",
)


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_table(result: AnalysisResult | dict):
    """A rich Table of the corpus-level figures: median [q1, q3] and the median's interval."""
    from stablex.tables import table as fitted

    s = result.summary if isinstance(result, AnalysisResult) else result
    ks = s["config"]["k"]
    table = fitted(
        f"{s['method']}: {s['n_seeds']} seeds x {s['n_texts']} texts",
        [("metric", "left"), "median", "q1-q3", "95% CI (median)", "texts"],
    )
    for pattern in HEADLINE:
        for name in sorted({pattern.format(k=k) for k in ks}):
            m = s["metrics"].get(name)
            if m is None:
                continue
            ci = m.get("median_ci")
            table.add_row(
                name,
                _fmt(m["median"]),
                f"{_fmt(m['q1'])}-{_fmt(m['q3'])}",
                "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                f"{m['n_texts']}" + (f" (+{m['n_undefined']} undef.)" if m["n_undefined"] else ""),
            )
    rel = s.get("reliability", {})
    if rel.get("available"):
        table.add_row(
            "seeds for reliability " + f"{rel['target']:.2f}",
            str(rel["seeds_needed"] or "-"),
            "",
            f"1-seed rel. {_fmt(rel['single_seed_reliability'])}",
            "",
        )
    vr = (s.get("sources") or {}).get("variance_ratios") or {}
    for label, r in (vr.get("ratios") or {}).items():  # model-level intervals, or withheld (too few pins)
        ci = r.get("ratio_ci_models")
        why = f"withheld: {vr.get('pins')} pins < {sources.MIN_PINS}" if vr.get("withheld") else "-"
        table.add_row(
            f"variance ratio {label}", _fmt(r["ratio"]), "", why if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]", ""
        )
    return table


def side_by_side(
    run_dir: Path,
    metric_keys: tuple[str, ...] = ("fa_5", "fa_10", "spearman", "pearson", "pairwise_rank", "half_r", "snr"),
):
    """Medians of every analysed method of a run, one column per method (rich Table)."""
    from stablex.tables import table as fitted

    summaries = {
        p.parent.name: AnalysisSummary.from_dict(read_json(p), p).to_dict()
        for p in sorted(Run(run_dir).analysis_root.glob("*/summary.json"))
    }
    table = fitted("methods side by side (median over texts [95% CI])", [("metric", "left"), *summaries])
    for key in metric_keys:
        row = [key]
        for s in summaries.values():
            m = s.get("metrics", {}).get(key) or {}
            ci = m.get("median_ci")
            row.append(_fmt(m.get("median")) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        table.add_row(*row)
    return table
