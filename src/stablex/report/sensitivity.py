"""Report section "Where the sensitivity comes from": random sources, classes and parts of
speech, comparisons with other runs, and how this run's protocol differs from the study's.

Reads analysis/<method>/summary.json ("sources"), analysis/<method>/groups.json
(features/pos.py) and compare/*.json (stats/compare.py); renders nothing it cannot back
with an interval and the number of texts and seeds behind it.
"""

from __future__ import annotations

from typing import Any

from stablex.records import ComparisonRecord
from stablex.report.data import ReportData, read_json
from stablex.report.html import interval, section, signed_interval, table
from stablex.report.svg import esc, num
from stablex.report.verdict import method_rows, trusted
from stablex.rundir import Run


def _ci(ci: Any) -> str:
    return f'<span class="ci">{interval(ci)}</span>' if interval(ci) else ""


def _table(head: list[str], rows: list[list[str]]) -> str:
    return table(head, rows, "num")


def _sources(method: str, src: dict, imported: bool = False) -> str:
    if imported:
        return (
            f'<p class="note">{esc(method)}: which random source — the seeds were imported, so their random '
            "sources are unknown and cannot be separated.</p>"
        )
    if not src.get("available"):
        return (
            f'<p class="note">{esc(method)}: which random source — {esc(src.get("reason", "not computed"))}. '
            "Declare a source design (<code>[train] groups</code>, e.g. <code>studies/lemonde-sources.toml</code>) "
            "to separate head initialisation, data order, dropout and the training sample.</p>"
        )
    acc = (src.get("accuracy") or {}).get("shares", {})
    vr = src.get("variance_ratios") or {}
    ratios = vr.get("ratios") or {}
    rows = []
    for label, v in (src.get("shares") or {}).items():
        a = acc.get(label, {})
        r = ratios.get(label) or {}
        rows.append(
            [
                esc(label.replace("_seed", "")),
                str(src.get("pairs", {}).get(label, "")),
                f"{num(v.get('share'))}{_ci(r.get('ratio_ci_models'))}"
                if r.get("ratio_ci_models")
                else f'{num(r.get("ratio", v.get("share")))} <span class="ci">(no model-level interval)</span>',
                f"{num(v.get('share'))}{_ci(v.get('share_ci'))}",
                f"{num(a.get('share'))}{_ci(a.get('share_ci'))}" if a else "–",
            ]
        )
    chk = vr.get("total_variance_check") or {}
    check = ""
    if vr.get("withheld"):
        check = (
            f'<p class="note" id="sources-check">Intervals withheld: {esc(vr["withheld"])}. '
            "<strong>The design does not support ranking the sources.</strong></p>"
        )
    elif chk:
        bad = chk.get("exceeds_total") or []
        s_ci = chk.get("sum_ci_models")
        check = (
            '<p class="note" id="sources-check">Law of total variance: '
            + (
                f"{esc(', '.join(bad))} exceed{'s' if len(bad) == 1 else ''} the variance with every source "
                f"varying, which no single source can: these ratios are not interpretable. "
                if bad
                else "no ratio exceeds the total. "
            )
            + (
                f"The single-source ratios sum to {num(chk.get('sum_of_single_ratios'))}{_ci(s_ci)} (1 for "
                f"independent, additive sources). "
                if chk.get("single_sources")
                else ""
            )
            + ("" if chk.get("consistent") else "<strong>The design does not support ranking the sources.</strong>")
            + "</p>"
        )
    n_acc = (src.get("accuracy") or {}).get("n_texts")
    return (
        f"<h3>Random sources ({esc(method)})</h3><p>Variance ratio of each set of sources: the variance across "
        f"seeds when only the named sources differ, over the variance when every source varies "
        f"(<code>{esc(src.get('reference'))}</code>). The interval that speaks about sources treats the "
        f"{vr.get('models', '')} models as the random unit (delete-one-model jackknife); the texts-only "
        f"interval is conditional on these models. Accuracy: variance of test accuracy"
        f"{f' on {n_acc} test texts' if n_acc else ''}, interval over texts.</p>"
        + _table(
            [
                "sources that differ",
                "seed pairs",
                "variance ratio [models, 95%]",
                "[texts only, these models]",
                "accuracy variance ratio",
            ],
            rows,
        )
        + check
    )


def _text_test(t: dict | None) -> str:
    if not t:
        return "no test (fewer than two groups)"
    unit = (
        f"{t['n_texts']} texts as units"
        if t.get("unit") == "text"
        else f"{t.get('n_words')} words in {t['n_texts']} texts, labels permuted within texts"
    )
    eps = f", ε² = {num(t['epsilon_squared'], 3)} over texts" if t.get("epsilon_squared") is not None else ""
    return (
        f"{t['name']}: H = {num(t['H'], 1)}, permutation p = {num(t['p_value'], 3)} ({t['permutations']} "
        f"permutations, {unit}){eps}"
    )


def _effects_table(res: dict) -> str:
    eff = sorted((res.get("effects") or {}).items(), key=lambda kv: -kv[1]["n_texts"])
    groups = res.get("groups") or {}
    rows = [
        [
            esc(name),
            str(groups.get(name, {}).get("n_words", "–")),
            str(v["n_texts"]),
            f"{num(groups.get(name, {}).get('median'))}{_ci(groups.get(name, {}).get('median_ci'))}",
            f"{num(v['median_effect'])}{_ci(v.get('median_effect_ci'))}",
        ]
        for name, v in eff
    ]
    return _table(["group", "words", "texts", "median dispersion", "effect within texts (median over texts)"], rows)


def pos_survives(raw: dict | None, matched: dict | None) -> str:
    """Whether the POS differences survive matching on magnitude, from the two within-text tests."""
    if not raw or not matched:
        return "The magnitude-matched comparison was not computed (rerun <code>stablex analyze</code>)."
    if raw["p_value"] >= 0.05:
        return (
            "Part of speech shows no difference in dispersion that the within-text test can tell from chance, "
            "raw or matched on magnitude."
        )
    if matched["p_value"] < 0.05:
        return (
            "At matched |consensus relevance| the POS differences remain (within-text permutation p = "
            f"{num(matched['p_value'], 3)}): they are not magnitude alone; compare the raw and matched tables "
            "above."
        )
    return (
        "At matched |consensus relevance| the POS differences can no longer be told from chance (within-text "
        f"permutation p = {num(matched['p_value'], 3)}): the raw ordering may be magnitude, not stability."
    )


def _groups(method: str, g: dict) -> str:
    disp = g.get("dispersion", {})
    parts = [
        f"<h3>By class and part of speech ({esc(method)})</h3><p>Dispersion of a word's relevance across "
        f"{g.get('n_seeds')} seeds, relative to its text's consensus scale, over {g.get('n_texts')} texts and "
        f"{g.get('n_words')} words. Medians with 95% cluster-bootstrap intervals (texts resampled). The tests "
        f"take the text as unit: a class is a property of the text, so class labels are permuted across "
        f"texts (on per-text medians); part of speech is tested by permuting the labels within texts.</p>"
    ]
    for by, title in (("gold_class", "gold class"), ("predicted_class", "predicted class (seeds' majority)")):
        res = disp.get(by) or {}
        groups = sorted((res.get("groups") or {}).items(), key=lambda kv: -kv[1]["n_words"])
        rows = [
            [esc(name), str(v["n_words"]), str(v["n_texts"]), f"{num(v['median'])}{_ci(v.get('median_ci'))}"]
            for name, v in groups
        ]
        parts.append(
            f"<h4>{esc(title)}</h4><p>{esc(_text_test(res.get('text_test')))}; {res.get('left_out', 0)} "
            f"words left out.</p>" + _table(["group", "words", "texts", "median dispersion"], rows)
        )
    pos = disp.get("pos") or {}
    matched = (g.get("dispersion_matched") or {}).get("pos")
    parts.append(
        f"<h4>part of speech (spaCy)</h4><p>{esc(_text_test(pos.get('text_test')))}; "
        f"{pos.get('left_out', 0)} words left out. The effect within texts is, per text, the group's mean "
        f"dispersion minus the text's mean, then the median over texts.</p>" + _effects_table(pos)
    )
    if matched:
        parts.append(
            f"<h4>part of speech at matched magnitude</h4><p>Dispersion is smaller for words of small "
            f"relevance, so each word's dispersion is taken minus the median of words in the same quintile "
            f"of |consensus| / the text's RMS. {esc(_text_test(matched.get('text_test')))}.</p>"
            + _effects_table(matched)
        )
    parts.append(
        f'<p id="groups-magnitude-{esc(method)}">'
        f"{pos_survives(pos.get('text_test'), (matched or {}).get('text_test'))}</p>"
    )
    al = g.get("pos_alignment", {})
    parts.append(
        f'<p class="note">Part of speech: {al.get("aligned")} words aligned to one spaCy tag by character '
        f"offsets, {al.get('not_aligned')} not aligned (tokens with different tags: counted, not guessed).</p>"
    )
    return "".join(parts)


def _comparisons(comps: list[ComparisonRecord]) -> str:
    if not comps:
        return (
            '<p class="note">No comparison with another run yet: <code>stablex compare RUN OTHER_RUN --method '
            "lrp</code> writes one (see <code>studies/compare/</code>).</p>"
        )
    parts = ["<h3>Compared with other runs</h3>"]
    for c in comps:
        kind = "paired by text" if c.paired else "unpaired"
        rows = [
            [
                esc(m["label"]),
                num(m.get("a")),
                num(m.get("b")),
                (f"{m['difference']:+.3f}" if m.get("difference") is not None else "–") + signed_interval(m.get("ci")),
                num(m.get("p_value"), 4),
                esc(m.get("conclusion", "")),
            ]
            for m in c.metrics.values()
        ]
        notes = "".join(f"<li>{esc(n)}</li>" for n in c.notes)
        low = f" Smallest p this design can reach: {num(c.smallest_p, 3)}." if c.smallest_p is not None else ""
        parts.append(
            f"<p>{esc(c.method)}: A = <code>{esc(c.run_a)}</code>, B = "
            f"<code>{esc(c.run_b)}</code>; {kind}, {c.n_texts['a']} / {c.n_texts['b']} texts, "
            f"{len(c.seeds['a'])} / {len(c.seeds['b'])} seeds. p: the models permuted between the "
            f"runs (texts crossed); interval: seeds within runs and texts resampled.{low}</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + _table(["figure", "A", "B", "A − B [95% multi-bootstrap]", "p (models permuted)", "conclusion"], rows)
        )
    return "".join(parts)


def read_methods(d: ReportData) -> tuple[list[str], str]:
    """The methods this section reads: every faithful one (by both criteria), the verdict's trusted
    method first; without faithfulness scores every analysed method. The note names those left out."""
    rows = method_rows(d)
    if d.faithfulness is None:
        return [r.name for r in rows], ""
    lead = trusted(rows)
    faithful = ([lead.name] if lead else []) + [r.name for r in rows if r.status == "above" and r is not lead]
    left = [r.name for r in rows if r.name not in faithful]
    note = (
        f'<p class="note" id="sensitivity-methods">Read for {", ".join(map(esc, faithful)) or "no method"}'
        f"{f' ({esc(lead.name)} first, the method the verdict trusts)' if lead else ''}: "
        f"{', '.join(map(esc, left))} {'is' if len(left) == 1 else 'are'} not faithful by both criteria (see the "
        f"verdict), so where {'its' if len(left) == 1 else 'their'} sensitivity comes from says nothing shown about "
        f"the model.</p>"
        if left
        else ""
    )
    return faithful, note


def sensitivity(d: ReportData) -> str:
    body = []
    methods, note = read_methods(d)
    if note:
        body.append(note)
    for method in methods:
        an = d.analyses[method]
        body.append(_sources(method, an.summary.get("sources") or {}, bool(d.imported)))
        g = read_json(Run(d.run_dir).analysis_path(method, "groups.json"))
        if g:
            body.append(_groups(method, g))
    comps = [ComparisonRecord.read(p) for p in sorted(Run(d.run_dir).compare_dir.glob("*.json"))]
    body.append(_comparisons([c for c in comps if c is not None]))
    return section(
        "sensitivity",
        "Where the sensitivity comes from",
        "".join(body),
        "Which random source, which texts and which words move the explanations, and how this run "
        "compares with others.",
    )
