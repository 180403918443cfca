"""One function per report section: ReportData in, an HTML fragment out.

Sections whose artefacts are missing render a short note naming the command that makes
them, so a half-finished run still gets a readable page. Every string that can come from
the run (corpus words, class names, paths, config) goes through `esc`.
"""

from __future__ import annotations

from typing import Any, Callable

from stablex.report import svg
from stablex.report.data import MAX_SEEDS, MAX_TEXTS, ReportData
from stablex.report.html import interval, missing, section, table
from stablex.report.sensitivity import sensitivity
from stablex.report.svg import esc, num
from stablex.report.verdict import render

METRIC_LABELS = {
    "spearman": "Spearman ρ (rank correlation of all words)",
    "pearson": "Pearson r (signed relevances)",
    "pairwise_rank": "pairwise rank agreement",
    "fa_5": "top-5 overlap (FA@5)",
    "fa_10": "top-10 overlap (FA@10)",
    "ra_5": "same top-5 rank (RA@5)",
    "ra_10": "same top-10 rank (RA@10)",
    "sa_5": "top-5 overlap, same sign (SA@5)",
    "sa_10": "top-10 overlap, same sign (SA@10)",
    "sra_5": "same rank and sign (SRA@5)",
    "sra_10": "same rank and sign (SRA@10)",
    "half_r": "half-split correlation r",
    "split_reliability": "split-half reliability of the consensus",
    "seeds_needed": "seeds needed for the target reliability",
    "snr": "signal-to-noise ratio",
    "signal": "signal (variance of mean relevance over words)",
    "noise": "noise (mean variance over seeds)",
}
HISTOGRAMS = ("spearman", "fa_10", "sa_10", "pairwise_rank", "half_r", "snr")


# --- verdict -----------------------------------------------------------------------------------


def verdict(d: ReportData) -> str:
    """Every explained method's stability weighed by its faithfulness (report/verdict.py)."""
    return render(d)


# --- accuracy ----------------------------------------------------------------------------------


def accuracy(d: ReportData) -> str:
    acc = d.accuracy
    if not acc:
        return section("accuracy", "Accuracy across seeds", missing("train", "No seed has a test accuracy."))
    eq = acc.get("equivalence")
    windows = []
    rows = []
    for sub in (eq or {}).get("subsets", []):
        windows.append(svg.Window(f"{sub['n']} seeds", sub["low"], sub["high"], False))
        rows.append(
            [
                str(sub["n"]),
                f"{sub['low']:.4f} – {sub['high']:.4f}",
                f"{100 * sub['epsilon']:.2f}",
                num(sub["z"], 2),
                num(sub["p_value"], 3),
                "equivalent" if sub.get("equivalent") else "not equivalent",
            ]
        )
    refs = []
    fm = (d.feature_model or {}).get("metrics", {}).get("test", {})
    if fm.get("accuracy") is not None:
        refs.append(("feature model", fm["accuracy"]))
    fig = svg.strip_plot({str(s): a for s, a in acc["by_seed"].items()}, windows, refs)
    tab = (
        table(["seeds kept", "accuracy window", "width ε (points)", "z", "p (z-test)", "the study's reading"], rows)
        if rows
        else ""
    )
    sa = acc.get("seeds") or {}
    cards = ""
    if sa:
        sd, o = sa["seed_sd"], sa["omnibus"]
        cards = table(
            [
                "seeds × test texts",
                "seed SD of accuracy (points)",
                f"{sd['level']:.0%} interval",
                "upper bound",
                "observed SD",
                "test-text noise SD",
                f"{esc(o['test'])} p",
            ],
            [
                [
                    f"{sa['n_seeds']} × {sa['n_test']:,}",
                    f"{100 * sd['sd']:.2f}",
                    f"[{100 * sd['ci'][0]:.2f}, {100 * sd['ci'][1]:.2f}]",
                    f"{100 * sd['upper']:.2f}",
                    f"{100 * sd['observed_sd']:.2f}",
                    f"{100 * sd['noise_sd']:.2f}",
                    num(o["p_value"], 3),
                ]
            ],
            "num",
        )
    reading = f'<p id="accuracy-reading">{esc(acc.get("reading") or "")}</p>' if acc.get("reading") else ""
    lead = (
        f"Each dot is one seed's accuracy on the {acc.get('n_test')} test texts. stablex's reading treats the seeds "
        f'as a random sample: Cochran\'s Q over all seeds, paired by text, for "do they differ", and the seed SD of '
        f'accuracy (test-text noise removed; interval from the seed × text analysis of variance) for "by how '
        f'much" and "equally accurate" (its upper bound below the margin). The bars and the table below it '
        f"replicate the study: the narrowest accuracy window holding that many seeds and a z-test of its best "
        f"against its worst seed, a pair chosen after looking; it is not stablex's conclusion "
        f"(docs/analysis.md, calibration)."
    )
    if refs:
        lead += " The dashed vertical line is the feature model's accuracy on the same test texts."
    repl = f"<h3>Replication of the study (ε windows)</h3>{tab}" if tab else ""
    return section("accuracy", "Accuracy across seeds", f"{reading}{cards}<figure>{fig}</figure>{repl}", lead)


# --- variability -------------------------------------------------------------------------------


def variability(d: ReportData) -> str:
    method = d.primary
    an = d.analyses.get(method) if method else None
    if not an:
        return section(
            "variability",
            "How much explanations vary",
            missing(
                "analyze", "Agreement, half-split correlation, SNR and the seeds-needed curve come from the analysis."
            ),
        )
    m, pt = an.summary.get("metrics", {}), an.per_text
    S = an.summary.get("n_seeds")
    hists = []
    for key in HISTOGRAMS:
        if key not in m or key not in pt:
            continue
        mk = m[key]
        log = key == "snr"
        dom = None if log else ((-1.0, 1.0) if key in ("spearman", "half_r", "pearson") else (0.0, 1.0))
        fig = svg.histogram(
            pt[key],
            METRIC_LABELS.get(key, key),
            (mk.get("median"), *(mk.get("median_ci") or (None, None))),
            log10=log,
            domain=dom,
        )
        hists.append(
            f'<figure class="small" data-metric="{esc(key)}">{fig}<figcaption>'
            f"<b>{esc(METRIC_LABELS.get(key, key))}</b>: "
            f"median {num(mk.get('median'))}{interval(mk.get('median_ci'))}; {mk.get('n_texts', 0)} texts"
            f"{_undefined(mk)}</figcaption></figure>"
        )
    body = [
        f"<p>Per text, the {S} seeds' explanations ({esc(method)}) are compared pair by pair; each histogram "
        f"shows how the figure is distributed over the {an.summary.get('n_texts')} test texts. The red line is "
        f"the median, the shaded band its 95% interval (seeds and texts resampled together).</p>",
        f'<div class="grid">{"".join(hists)}</div>',
        _half_split(an),
        _curve(an),
        _metric_table(d),
    ]
    return section(
        "variability",
        "How much explanations vary",
        "".join(body),
        "If explanations did not depend on the seed, every agreement figure would be 1.",
    )


def _undefined(mk: dict) -> str:
    return f", {mk['n_undefined']} undefined" if mk.get("n_undefined") else ""


def _half_split(an) -> str:
    m = an.summary.get("metrics", {}).get("half_r")
    snr = an.summary.get("metrics", {}).get("snr")
    if not m or m.get("median") is None:
        return ""
    S = an.summary.get("n_seeds", 0)
    out = (
        f'<p id="half-split"><b>Half-split correlation</b> (the study\'s figure): the word relevances of one '
        f"seed correlated with those of another, pooled over every pairing of distinct seeds (all {S} seeds "
        f"used). Median over texts r = {num(m['median'])}{interval(m.get('median_ci'))} (seeds and texts "
        f"resampled). The published study found r ≈ 0.29–0.43 for 200 CamemBERT seeds."
    )
    if snr and snr.get("median") is not None:
        out += (
            f" <b>Signal-to-noise ratio</b>: the variance over words of the mean relevance (estimated from pairs "
            f"of distinct seeds, without the noise a mean of few seeds carries) divided by the mean variance over "
            f"seeds; median {num(snr['median'], 2)}{interval(snr.get('median_ci'), 2)}. Below 1, "
            f"a single seed's word ranking is mostly noise."
        )
    return out + "</p>"


def _curve(an) -> str:
    rel = an.summary.get("reliability") or {}
    if not rel.get("available"):
        return f'<p class="note">Seeds-needed curve: {esc(rel.get("reason", "not computed"))}.</p>'
    pts = rel["curve"]
    xs = [p["seeds"] for p in pts]
    series = [svg.Series("measured", xs, [p["measured"] for p in pts])]
    rho1, need = rel.get("single_seed_reliability"), rel.get("seeds_needed")
    if rho1 is not None and rho1 > 0:
        # the fit continued past the measured seeds, up to where it reaches the target (capped)
        top = max(xs[-1], min(need or xs[-1], 1024))
        grid = sorted({*xs, *[2**i for i in range(11) if 2**i <= top], top})
        series.append(
            svg.Series("fitted (Spearman-Brown)", grid, [g * rho1 / (1 + (g - 1) * rho1) for g in grid], dashed=True)
        )
    fig = svg.line_chart(
        series,
        "seeds averaged (S, log scale)",
        "reliability of the consensus",
        hline=(f"target {rel['target']:g}", rel["target"]),
        vline=(f"{need} seeds", need) if need and need <= 1024 else None,
        ydomain=(min(0.0, *[p["measured"] for p in pts]), 1.0),
        log_x=True,
        width=560,
    )
    need = rel.get("seeds_needed")
    if need and need <= 10_000:
        need_txt = (
            f"About <b>{need}</b> seeds are needed for a consensus whose word ranking repeats with "
            f"correlation {rel['target']:g}"
        )
    elif need:
        need_txt = (
            f"More than 10,000 seeds would be needed to reach {rel['target']:g}: single seeds share almost nothing"
        )
    else:
        need_txt = "The target reliability is not reachable from this fit"
    return (
        f'<figure id="seeds-needed">{fig}<figcaption><b>How many seeds?</b> The correlation between the mean '
        f"explanation of S seeds and that of S other seeds (median over texts; solid) and the Spearman-Brown "
        f"curve fitted to it (dashed; one-seed reliability ρ₁ = {num(rel.get('single_seed_reliability'))}). "
        f"{need_txt}.</figcaption></figure>"
    )


def _metric_table(d: ReportData) -> str:
    methods = sorted(d.analyses, key=lambda x: (x != d.primary, x))
    keys: list[str] = []
    for mth in methods:
        keys += [k for k in d.analyses[mth].summary.get("metrics", {}) if k not in keys]
    rows = []
    for k in keys:
        row = [esc(METRIC_LABELS.get(k, k))]
        for mth in methods:
            mk = d.analyses[mth].summary.get("metrics", {}).get(k) or {}
            row.append(f'{num(mk.get("median"))}<span class="ci">{interval(mk.get("median_ci"))}</span>')
        rows.append(row)
    return (
        "<details><summary>Every agreement figure, every analysed method (median over texts, 95% interval)"
        "</summary>" + table(["figure", *methods], rows, "num") + "</details>"
    )


# --- viewer ------------------------------------------------------------------------------------


def viewer(d: ReportData) -> str:
    v = d.viewer
    if not v or not v["texts"]:
        return section("viewer", "Text viewer", missing("explain", "The viewer shows the explanations of test texts."))
    ref = d.reference
    direction = (
        f"Red words push toward <b>{esc(ref)}</b>, blue words toward <b>{esc(d.classes[0])}</b>"
        if ref
        else "Red words push toward the class each seed explained, blue words against it"
    )
    limits = (
        f"Showing {len(v['texts'])} of {v['texts_total']} test texts (spread from the least to the most "
        f"stable; at most {MAX_TEXTS}) and {len(v['seeds_shown'])} of {v['seeds_total']} seeds (at most {MAX_SEEDS})."
    )
    body = f"""
<p>{direction}; the darker, the stronger. Negative words are also underlined with dots, so the sign reads in
grey. Each seed's map uses the same scale (the text's largest |relevance| over the seeds shown); the feature
model's map has its own scale. {esc(limits)}</p>
<div class="controls"><label for="text-select">Test text</label>
<button type="button" id="prev-text" aria-label="previous text">◀</button>
<select id="text-select"></select>
<button type="button" id="next-text" aria-label="next text">▶</button></div>
<div id="text-meta" class="meta"></div>
<div class="legend" id="viewer-legend"><span class="lg-min"></span><span class="lg-bar"></span>
<span class="lg-max"></span><span class="lg-note"></span></div>
<h3>One map per seed ({esc(v["method"])})</h3>
<div id="seed-maps" class="maps"></div>
<h3>Consensus over seeds, with its spread</h3>
<div id="consensus-map" class="map wide"></div>
<div id="consensus-spread"></div>
<h3>The feature model's map</h3>
<div id="feature-map" class="map wide"></div>
"""
    return section(
        "viewer", "Text viewer", body, "Pick a test text and compare how different seeds explain it, word by word."
    )


# --- lexicon -----------------------------------------------------------------------------------


def _bar(value: float | None, scale: float, signed: bool = True) -> str:
    if value is None or not scale:
        return ""
    w = min(1.0, abs(value) / scale) * 50
    if not signed:
        return f'<span class="bar"><span class="fill pos" style="left:0;width:{2 * w:.1f}%"></span></span>'
    side = f"left:50%;width:{w:.1f}%" if value >= 0 else f"left:{50 - w:.1f}%;width:{w:.1f}%"
    return f'<span class="bar"><span class="fill {"pos" if value >= 0 else "neg"}" style="{side}"></span></span>'


def lexicon(d: ReportData) -> str:
    an = d.analyses.get(d.primary) if d.primary else None
    lex = (an.summary.get("lexicon") if an else None) or {}
    if not lex.get("classes"):
        return section("lexicon", "Global lexicon", missing("analyze", "The lexicon is computed by the analysis."))
    blocks = []
    for cls, cs in lex["classes"].items():
        words = cs.get("top_words") or []
        if not words:
            blocks.append(
                f'<div class="lex"><h3>toward {esc(cls)}</h3><p class="note">no word occurs '
                f"{lex.get('min_count')} times or more</p></div>"
            )
            continue
        scale = max(abs(w["mean_relevance"]) for w in words) or 1.0
        rows = [
            [
                str(i + 1),
                f'<span class="word">{esc(w["word"])}</span>',
                f"{w['mean_relevance']:+.3g} {_bar(w['mean_relevance'], scale)}",
                num(w.get("sd_seeds"), 3),
                str(w["count"]),
                f"{100 * w['top_share']:.0f}% {_bar(w['top_share'], 1.0, False)}",
            ]
            for i, w in enumerate(words)
        ]
        stab = (
            f"Top-{lex.get('top_n')} lists of two seeds share {100 * cs['top_overlap_between_seeds']:.0f}% of "
            "their words; "
            if cs.get("top_overlap_between_seeds") is not None
            else ""
        )
        stab += (
            f"a seed's top-{lex.get('top_n')} holds {100 * cs['top_overlap_with_consensus']:.0f}% of the "
            f"consensus top-{lex.get('top_n')}."
            if cs.get("top_overlap_with_consensus") is not None
            else ""
        )
        blocks.append(
            f'<div class="lex" data-class="{esc(cls)}"><h3>Words pushing toward {esc(cls)}</h3>'
            f"<p>{stab}</p>"
            + table(
                [
                    "rank",
                    "word",
                    "mean relevance",
                    "SD over seeds",
                    "occurrences",
                    f"seeds with it in their top {lex.get('top_n')}",
                ],
                rows,
                "lexicon",
            )
            + "</div>"
        )
    hyb = _hybrid_lexicon(d)
    return section(
        "lexicon",
        "Global lexicon and its rank stability",
        f'<div class="grid2">{"".join(blocks)}</div>{hyb}',
        f"Words ranked by their mean relevance over all test occurrences and all seeds ({esc(d.primary)}; "
        f"words seen at least {lex.get('min_count')} times). The last column is the rank stability: how "
        f"many seeds, each ranking the words alone, put the word in their own top {lex.get('top_n')}.",
    )


def _hybrid_lexicon(d: ReportData) -> str:
    rows = [r for r in d.hybrid_lexicon if r.get("source") == "consensus"]
    if not rows:
        return ""
    out = []
    for cls in sorted({r["class"] for r in rows}):
        top = sorted((r for r in rows if r["class"] == cls), key=lambda r: int(r["rank"]))[:15]
        out.append(
            f"<div><b>{esc(cls)}</b>: "
            + ", ".join(f'{esc(r["word"])} <span class="ci">({float(r["sign_consistency"]):.0%})</span>' for r in top)
            + "</div>"
        )
    return (
        "<details><summary>The hybrid's lexicons (training-split explanations; in brackets, the share of seeds "
        "agreeing on the sign)</summary>" + "".join(out) + "</details>"
    )


# --- trade-off ---------------------------------------------------------------------------------


def tradeoff(d: ReportData) -> str:
    st = d.stability
    if not st:
        return section(
            "tradeoff",
            "Accuracy against explanation stability",
            missing("features", "The trade-off needs the feature model's stability comparison."),
        )
    pts, rows, vlines = [], [], []
    k = st.get("k", 10)
    for p in st.get("points", []):
        acc, ag = p.get("accuracy") or {}, (p.get("agreement") or {}).get("spearman") or {}
        if acc.get("mean") is None or ag.get("mean") is None:
            continue
        name = "transformer (" + str(p.get("method", "")) + ")" if p["model"] == "transformer" else "feature model"
        label = f"{name}, {p['randomness']}"
        pts.append(svg.Point(label, acc["mean"], ag["mean"], acc.get("lo"), acc.get("hi"), ag.get("lo"), ag.get("hi")))
        fa = (p.get("agreement") or {}).get(f"fa@{k}") or {}
        rows.append(
            [
                esc(label),
                str(p.get("n_models")),
                f'{acc["mean"]:.3f}<span class="ci"> [{num(acc.get("lo"))}, {num(acc.get("hi"))}]</span>',
                f'{ag["mean"]:.3f}<span class="ci"> [{num(ag.get("lo"))}, {num(ag.get("hi"))}]</span>',
                f'{num(fa.get("mean"))}<span class="ci"> [{num(fa.get("lo"))}, {num(fa.get("hi"))}]</span>',
            ]
        )
    hy = d.hybrid or {}
    hyb_note = ""
    if hy.get("consensus"):
        hv, hrows, hyb_note = _hybrid_tradeoff(d, hy)
        vlines += hv
        rows += hrows
    elif d.stability:
        hyb_note = missing("hybrid", "The hybrid's accuracy is not computed yet.")
    if not pts:
        return section("tradeoff", "Accuracy against explanation stability", "<p class='note'>no point to draw</p>")
    fig = svg.scatter_intervals(
        pts,
        "accuracy (points: test split; dashed: held-out pool)",
        "explanation agreement (Spearman ρ)",
        ydomain=(min(0.0, *[p.y for p in pts]), 1.05),
        vlines=vlines,
    )
    tab = table(
        ["model", "models", "accuracy (2.5–97.5% over models)", "agreement ρ (95% interval)", f"top-{k} overlap"],
        rows,
        "num",
    )
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in st.get("notes", []))
    return section(
        "tradeoff",
        "Accuracy against explanation stability",
        f"<figure>{fig}</figure>{tab}{hyb_note}{notes}",
        "Up and right is better: accurate models whose explanations agree from one model to the next. "
        "Agreement is the mean over texts of Spearman's ρ between two models' word maps, computed by the "
        'same code for every model kind. "seeds": models differ by training seed; "resampling": by a '
        "bootstrap draw of the training texts.",
    )


def _hybrid_tradeoff(d: ReportData, hy: dict) -> tuple[list, list[list[str]], str]:
    """The hybrid (and the feature model) on the held-out pool as dashed lines, their rows, the comparison table."""
    c, base = hy["consensus"], hy.get("base") or {}
    held, base_held = c.get("pool"), base.get("pool")
    # the pool's accuracy when there is one (thousands of texts, not the test split's few); the
    # intervals are the Wilson intervals metrics.json holds (features/compare.py)
    shown, where = (held, "held-out pool") if held else (c, "test split")
    lo, hi = shown.get("accuracy_ci") or (None, None)
    vlines = [svg.Point(f"hybrid ({c.get('variant')}), {where}", shown["accuracy"], 0.0, lo, hi)]
    if held and base_held:
        blo, bhi = base_held.get("accuracy_ci") or (None, None)
        vlines.append(svg.Point("feature model, held-out pool", base_held["accuracy"], 0.0, blo, bhi))
    rows = [
        [
            esc(
                f"hybrid: feature model + consensus lexicons ({c.get('variant')}), {where}, "
                f"{shown.get('n', hy.get('n_test'))} texts"
            ),
            str(len(hy.get("seeds", []))),
            f"{shown['accuracy']:.3f}{interval(shown.get('accuracy_ci'))}",
            "not measured",
            "not measured",
        ]
    ]
    overlap = _lexicon_overlap(d)
    shared = (
        f"; its single-seed lexicons share {100 * overlap:.0f}% of their words (mean pairwise Jaccard)"
        if overlap is not None
        else ""
    )
    note = (
        f"<p>The hybrid adds lexicons built from the transformer's explanations of "
        f"{hy.get('n_train_explained', 'the')} training texts to the feature model. Its settings were chosen by "
        f"cross-validation, {esc(str((hy.get('selection') or {}).get('cv') or 'none: fixed settings'))}; the figures "
        f"below were computed once, after the choice, on the run's test split and on a held-out pool of corpus "
        f"texts the run never used. No stage measures the hybrid's word-map stability, so the figure shows its "
        f"accuracy (and the feature model's on the same pool) as dashed lines over their 95% Wilson intervals"
        f"{shared}.</p>"
    )
    return vlines, rows, note + _hybrid_table(hy)


def _hybrid_table(hy: dict) -> str:
    """Every variant against the feature model on each pool: accuracies, paired difference, McNemar, texts."""
    rows = []
    sel = (hy.get("selection") or {}).get("variants") or {}
    for v, res in (hy.get("variants") or {}).items():
        for pool in ("test", "held_out"):
            r = res.get(pool)
            if not r:
                continue
            vs, mc = r.get("vs_base") or {}, (r.get("vs_base") or {}).get("mcnemar") or {}
            params = ", ".join(f"{k}={val}" for k, val in (res.get("params") or {}).items())
            cv, sd = sel.get(v, {}).get("cv_accuracy"), sel.get(v, {}).get("cv_sd")
            cv_cell = num(cv) + ("" if sd is None else f'<span class="ci"> ± {num(sd)}</span>')
            rows.append(
                [
                    esc(v + (" (chosen)" if v == hy.get("chosen") else "")),
                    esc(params),
                    cv_cell,
                    "test split" if pool == "test" else "held-out pool",
                    str(r["n"]),
                    f"{r['base_accuracy']:.3f}{interval(r.get('base_accuracy_ci'))}",
                    f"{r['accuracy']:.3f}{interval(r.get('accuracy_ci'))}",
                    f"{vs.get('difference', 0):+.3f}{interval(vs.get('ci'))}",
                    f"{'–' if mc.get('p_exact') is None else format(mc['p_exact'], '.2g')} "
                    f'<span class="ci">(b={mc.get("b")}, c={mc.get("c")})</span>',
                ]
            )  # 2e-11, not 0.000
    if not rows:
        return ""
    m = hy.get("matching") or {}
    match = (
        f" {m['matched']} of {m['entries']} lexicon words ({100 * m['rate']:.0f}%) occur in the held-out pool "
        f"(matched as the explanations cut words)."
        if m.get("rate") is not None
        else ""
    )
    seeds = (hy.get("single_seed_summary") or {}).get("held_out") or (hy.get("single_seed_summary") or {}).get("test")
    seed_note = (
        f" Lexicons from one seed alone: accuracy {seeds['min_accuracy']:.3f}–{seeds['max_accuracy']:.3f} "
        f"(mean {seeds['mean_accuracy']:.3f}) against {seeds['consensus_accuracy']:.3f} for the consensus "
        f"of all seeds, same texts."
        if seeds
        else ""
    )
    return (
        table(
            [
                "variant",
                "settings (chosen by CV)",
                "CV accuracy ± SD over folds",
                "pool",
                "texts",
                "feature model",
                "hybrid",
                "difference (paired 95% bootstrap)",
                "McNemar p",
            ],
            rows,
            "num",
        )
        + f'<p class="note">b = texts only the feature model gets right, c = only the hybrid.{match}{seed_note}</p>'
    )


def _lexicon_overlap(d: ReportData) -> float | None:
    """Mean pairwise Jaccard overlap of the single-seed lexicons (all classes pooled)."""
    sets: dict[str, set] = {}
    for r in d.hybrid_lexicon:
        if r.get("source", "").startswith("seed-"):
            sets.setdefault(r["source"], set()).add((r["class"], r["word"]))
    keys = sorted(sets)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    vals = [len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in pairs if sets[a] | sets[b]]
    return sum(vals) / len(vals) if vals else None


# --- faithfulness, conservation, manifest ------------------------------------------------------


def faithfulness(d: ReportData) -> str:
    f = d.faithfulness
    if not f or not f.methods:
        return section("faithfulness", "Faithfulness per method", missing("faithfulness", "No faithfulness scores."))
    methods = f.methods
    fracs = sorted({float(k) for m in methods.values() for k in (m.get("comprehensiveness") or {})})
    xs = [100 * x for x in fracs]
    figs = []
    for key, what in (("comprehensiveness", "higher is better"), ("sufficiency", "lower is better")):
        series = [svg.Series(name, xs, [m.get(key, {}).get(f"{x:g}") for x in fracs]) for name, m in methods.items()]
        figs.append(
            f'<figure class="half">{svg.line_chart(series, "top words removed or kept (%)", key, width=420)}'
            f"<figcaption>{esc(key)} ({what})</figcaption></figure>"
        )
    rows = []
    for name, m in methods.items():
        vs = f.vs_floor(name)
        ci = m.get("comprehensiveness_ci")
        rows.append(
            [
                esc(name),
                f'{m["comprehensiveness_aopc"]:.3f}<span class="ci">{interval(m.get("comprehensiveness_ci"))}'
                f"{'' if ci else ' ± ' + num(m.get('comprehensiveness_se')) + ' SE'}</span>",
                "–"
                if not vs
                else f"{vs['comprehensiveness_gain']:+.3f}"
                f'<span class="ci">{interval(vs.get("comprehensiveness_gain_ci"))}</span>',
                f'{m["sufficiency_aopc"]:.3f}<span class="ci">{interval(m.get("sufficiency_ci"))}</span>',
                "–"
                if not vs
                else f'{vs["sufficiency_gain"]:+.3f}<span class="ci">{interval(vs.get("sufficiency_gain_ci"))}</span>',
            ]
        )
    n, seeds, perms = f.n_texts, f.seeds or [f.seed], f.permutations
    lead = (
        f"ERASER scores on the models of {len(seeds)} seed(s) ({', '.join(map(str, seeds))}): delete the words a "
        "method ranks highest and see how much the "
        "model's probability for its class drops (comprehensiveness: a faithful method drops it most), or keep "
        "only those words (sufficiency: a faithful method keeps the probability, so a small drop). "
        f"`{f.floor}` is the floor: a uniformly random ranking of the words"
        + (f" ({perms} permutations per text and seed, averaged)" if perms else "")
        + ", which a method should "
        "beat. AOPC averages over the fractions, then over texts and seeds; brackets are 95% intervals that "
        f"resample texts and seeds together, and 'vs {f.floor}' is the paired difference on the same "
        "texts and seeds "
        "(positive: more faithful than random)" + (f"; {n} texts sampled from the explained texts." if n else ".")
    )
    return section(
        "faithfulness",
        "Faithfulness per method",
        f'<div class="grid2">{"".join(figs)}</div>'
        + table(
            ["method", "comprehensiveness AOPC ↑", f"vs {f.floor}", "sufficiency AOPC ↓", f"vs {f.floor}"], rows, "num"
        ),
        esc(lead),
    )


def conservation(d: ReportData) -> str:
    series, notes = [], []
    names: list[str] = []
    for method, s in d.explained.items():
        seeds = s.get("seeds")
        if not isinstance(seeds, dict):  # explanations/features/summary.json lists seeds: no conservation
            continue
        recs = [r.get("conservation") for r in seeds.values() if r.get("conservation")]
        if not recs:
            continue
        names = list(recs[0])
        pooled = [sum(r[k]["pooled"] for r in recs) / len(recs) for k in names]
        series.append(svg.Series(method, list(range(len(names))), pooled))
        share = [r.get("special_tokens_share") for r in seeds.values() if r.get("special_tokens_share") is not None]
        if share:
            notes.append(
                f"{esc(method)}: median share of input relevance on special tokens {sum(share) / len(share):.2f}"
            )
        rnd = s.get("randomisation")
        if rnd and rnd.get("steps"):
            last = rnd["steps"][-1]
            notes.append(
                f"{esc(method)}: randomisation check, Spearman ρ trained vs fully re-initialised "
                f"{num(last.get('spearman'), 2)} ({'passes' if rnd.get('differs') else 'FAILS'}: "
                f"an explanation should change when the weights are randomised)"
            )
    if not series:
        return section(
            "conservation",
            "Conservation per layer",
            missing("explain", "Conservation is recorded by LRP-type methods (lrp, chefer)."),
        )
    labels = [_short_layer(n) for n in names]
    fig = svg.line_chart(
        series,
        "where relevance is summed",
        "relevance / logit",
        hline=("conserved", 1.0),
        width=max(520, 44 * len(names) + 170),
        categorical_x=labels,
    )
    lis = "".join(f"<li>{n}</li>" for n in notes)
    return section(
        "conservation",
        "Conservation per layer",
        f"<figure>{fig}</figure><ul>{lis}</ul>",
        "LRP distributes the explained logit over the input. Summed at each layer (pooled over texts and "
        "averaged over seeds), relevance divided by the logit shows how much the biases absorb on the way "
        "down: 1 means fully conserved.",
    )


def _short_layer(name: str) -> str:
    return (
        name.replace("layer_", "L").replace("last_hidden", "last").replace("input", "in").replace("embeddings", "emb")
    )


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, obj)]


def manifest(d: ReportData) -> str:
    rows = [[f"<code>{esc(k)}</code>", f'<span class="mono">{esc(v)}</span>'] for k, v in _flatten(d.manifest)]
    return section(
        "manifest",
        "Run manifest",
        table(["field", "value"], rows, "manifest")
        + f"<details><summary>study.toml (every option, defaults written out)</summary>"
        f"<pre>{esc(d.study_toml)}</pre></details>",
        f"Everything needed to reproduce this run: package versions, hashes of the configuration, the "
        f"corpus and the model. Run directory: <code>{esc(d.run_dir)}</code>.",
    )


SECTIONS: list[tuple[str, str, Callable[[ReportData], str]]] = [
    ("verdict", "Verdict", verdict),
    ("accuracy", "Accuracy", accuracy),
    ("variability", "Variability", variability),
    ("sensitivity", "Sources", sensitivity),
    ("viewer", "Text viewer", viewer),
    ("lexicon", "Lexicon", lexicon),
    ("tradeoff", "Trade-off", tradeoff),
    ("faithfulness", "Faithfulness", faithfulness),
    ("conservation", "Conservation", conservation),
    ("manifest", "Manifest", manifest),
]
