"""The verdict: every explained method's stability across seeds weighed by its faithfulness.

A method's agreement across seeds means something about the model only if its explanations
follow the model: one whose faithfulness cannot be told from a random ranking's is named as
such, and no stability conclusion rests on it. Faithfulness is judged by comprehensiveness
(ERASER): the paired 95 % bootstrap interval, over the same texts, of the method's AOPC minus
the random ranking's (RUN/explanations/faithfulness.json, `vs.random`). Stability readings
come from the interval of the median Spearman rho, never from the point alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from stablex.report import svg
from stablex.report.data import ReportData
from stablex.report.svg import esc, num

# Conventional reading bands of the median rank correlation; a reading is given only when the
# whole 95 % interval lies inside one band, otherwise the page says which bands it spans.
BANDS = ((0.8, 1.01, "largely stable across seeds"),
         (0.5, 0.8, "sharing a core but differing in detail from seed to seed"),
         (-1.01, 0.5, "one draw from a wide distribution: read the consensus of many seeds, not one"))


@dataclass
class MethodRow:
    """What the verdict knows about one method."""

    name: str
    rule: str | None
    stability: dict  # spearman / fa_k / half_r -> {median, median_ci, n_texts}
    n_seeds: int | None
    faith: dict | None  # the method's entry of faithfulness.json
    status: str  # 'above' | 'random' | 'below' | 'unscored'

    @property
    def rho(self) -> dict:
        return self.stability.get("spearman") or {}


def faith_status(faith: dict | None) -> str:
    """'above' / 'below' the random ranking when the paired interval of the comprehensiveness
    difference excludes 0, 'random' when it includes 0, 'unscored' without a paired interval."""
    ci = (((faith or {}).get("vs") or {}).get("random") or {}).get("comprehensiveness_gain_ci")
    if not ci or ci[0] is None or ci[1] is None:
        return "unscored"
    return "above" if ci[0] > 0 else ("below" if ci[1] < 0 else "random")


def rule_name(summary: dict) -> str | None:
    """The LRP rule set as the explanation summary names it (None for non-LRP methods)."""
    rule = summary.get("rule")
    if isinstance(rule, dict):
        return rule.get("name") or rule.get("softmax_rule")
    opts = (summary.get("config") or {}).get("options") or {}
    return f"softmax rule {opts['softmax_rule']}" if "softmax_rule" in opts else None


def method_rows(d: ReportData) -> list[MethodRow]:
    methods = [m for m in d.analyses if m != "features"]
    faith = (d.faithfulness or {}).get("methods") or {}
    rows = []
    for m in methods:
        s = d.analyses[m].summary
        metrics = s.get("metrics") or {}
        k = "fa_10" if "fa_10" in metrics else next((x for x in metrics if x.startswith("fa_")), None)
        stab = {"spearman": metrics.get("spearman") or {}, "half_r": metrics.get("half_r") or {}}
        if k:
            stab[k] = metrics[k]
        rows.append(MethodRow(m, rule_name(d.explained.get(m, {})), stab, s.get("n_seeds"), faith.get(m),
                              faith_status(faith.get(m))))
    order = {"above": 0, "random": 1, "below": 2, "unscored": 3}
    return sorted(rows, key=lambda r: (order[r.status], -((r.faith or {}).get("comprehensiveness_aopc") or 0), r.name))


def _ci(ci, digits: int = 3) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" [{num(ci[0], digits)}, {num(ci[1], digits)}]"


def _cell(m: dict, key: str = "median", ci_key: str = "median_ci", digits: int = 3) -> str:
    if not m or m.get(key) is None:
        return "–"
    return f'{num(m[key], digits)}<span class="ci">{_ci(m.get(ci_key), digits)}</span>'


def stability_reading(rho: dict) -> str:
    """The band the median rho's interval lies in, or the bands it spans."""
    ci = rho.get("median_ci")
    if rho.get("median") is None:
        return "no agreement figure"
    if not ci or ci[0] is None:
        return f"median ρ = {rho['median']:.2f} without an interval: no reading"
    for lo, hi, words in BANDS:
        if lo <= ci[0] and ci[1] < hi:
            return words
    spans = [f"{max(lo, -1):g}–{min(hi, 1):g}" for lo, hi, _ in reversed(BANDS) if ci[0] < hi and ci[1] >= lo]
    return f"between readings (its interval spans ρ {' and '.join(spans)})"


def _overlap(a, b) -> bool:
    return bool(a and b and None not in a and None not in b and a[0] <= b[1] and b[0] <= a[1])


def figure(rows: list[MethodRow], d: ReportData) -> str:
    """Median rho (y) against comprehensiveness AOPC (x), both with intervals; the random
    ranking's comprehensiveness is the shaded band."""
    pts = []
    for r in rows:
        f, rho = r.faith or {}, r.rho
        if f.get("comprehensiveness_aopc") is None or rho.get("median") is None:
            continue
        cx, cy = f.get("comprehensiveness_ci") or (None, None), rho.get("median_ci") or (None, None)
        pts.append(svg.Point(r.name, f["comprehensiveness_aopc"], rho["median"], cx[0], cx[1], cy[0], cy[1]))
    if not pts:
        return ""
    rnd = ((d.faithfulness or {}).get("methods") or {}).get("random") or {}
    vlines = []
    if rnd.get("comprehensiveness_aopc") is not None:
        ci = rnd.get("comprehensiveness_ci") or (None, None)
        vlines.append(svg.Point("random ranking", rnd["comprehensiveness_aopc"], 0.0, ci[0], ci[1]))
    ys = [v for p in pts for v in (p.y, p.y_lo, p.y_hi) if v is not None]
    fig = svg.scatter_intervals(pts, "faithfulness: comprehensiveness AOPC (higher is more faithful)",
                                "stability: median Spearman ρ across seeds", vlines=vlines,
                                ydomain=(min(0.0, *ys), 1.0))
    nf = (d.faithfulness or {}).get("n_texts")
    return (f'<figure id="verdict-figure">{fig}<figcaption>Each method: its stability across seeds (median over '
            f'texts of the Spearman ρ between two seeds\' word relevances, 95% interval, seeds and texts '
            f'resampled) against its faithfulness (ERASER comprehensiveness AOPC on {nf} texts of seed '
            f'{(d.faithfulness or {}).get("seed")}, 95% bootstrap interval over texts). The dashed line and grey '
            f'band are the random ranking\'s comprehensiveness and its interval: a method inside it explains no '
            f'better than chance.</figcaption></figure>')


def verdict_table(rows: list[MethodRow], d: ReportData) -> str:
    from stablex.report.sections import table

    k = next((x for r in rows for x in r.stability if x.startswith("fa_")), "fa_10")
    head = ["method", "LRP rule", "median ρ", f"FA@{k[3:]}", "half-split r", "comprehensiveness AOPC ↑",
            "vs random", "sufficiency AOPC ↓", "vs random", "texts (stability · faithfulness)", "faithfulness"]
    out = []
    nf = (d.faithfulness or {}).get("n_texts")
    words = {"above": "above random", "random": "<strong>indistinguishable from random</strong>",
             "below": "<strong>below random</strong>", "unscored": "not scored"}
    for r in rows:
        f = r.faith or {}
        vs = (f.get("vs") or {}).get("random") or {}
        n_stab = r.rho.get("n_texts")
        out.append([esc(r.name), esc(r.rule or "–"), _cell(r.rho), _cell(r.stability.get(k, {})),
                    _cell(r.stability.get("half_r", {})),
                    _cell(f, "comprehensiveness_aopc", "comprehensiveness_ci"),
                    _cell(vs, "comprehensiveness_gain", "comprehensiveness_gain_ci"),
                    _cell(f, "sufficiency_aopc", "sufficiency_ci"),
                    _cell(vs, "sufficiency_gain", "sufficiency_gain_ci"),
                    f"{n_stab if n_stab is not None else '–'} × {r.n_seeds or '–'} seeds · {nf if f else '–'}",
                    words[r.status]])
    rnd = ((d.faithfulness or {}).get("methods") or {}).get("random")
    if rnd:
        out.append(["random ranking", "–", "–", "–", "–", _cell(rnd, "comprehensiveness_aopc", "comprehensiveness_ci"),
                    "–", _cell(rnd, "sufficiency_aopc", "sufficiency_ci"), "–", f"– · {nf}", "the floor"])
    return table(head, out, "num verdict-table")


def sentences(rows: list[MethodRow]) -> list[str]:
    """What the intervals support, method by method, then across methods."""
    out = []
    above = [r for r in rows if r.status == "above"]
    for r in rows:
        f, rho = r.faith or {}, r.rho
        vs = (f.get("vs") or {}).get("random") or {}
        rho_txt = (f"ρ = {num(rho.get('median'), 2)}{_ci(rho.get('median_ci'), 2)}" if rho.get("median") is not None
                   else "no agreement figure")
        if r.status == "above":
            out.append(f"<b>{esc(r.name)}</b> is more faithful than a random ranking (comprehensiveness "
                       f"{num(f.get('comprehensiveness_aopc'))}{_ci(f.get('comprehensiveness_ci'))}, "
                       f"{num(vs.get('comprehensiveness_gain'), 3)}{_ci(vs.get('comprehensiveness_gain_ci'))} above it "
                       f"on the same texts), and its explanations are {stability_reading(rho)} ({rho_txt}).")
        elif r.status in ("random", "below"):
            how = "cannot be told from" if r.status == "random" else "is below"
            out.append(f"<b>{esc(r.name)}</b>'s faithfulness {how} a random ranking's (comprehensiveness "
                       f"{num(f.get('comprehensiveness_aopc'))}{_ci(f.get('comprehensiveness_ci'))}; difference "
                       f"{num(vs.get('comprehensiveness_gain'), 3)}{_ci(vs.get('comprehensiveness_gain_ci'))} on the "
                       f"same texts): its agreement across seeds ({rho_txt}) is mostly the method's own noise, and "
                       f"no conclusion about stability rests on it.")
        else:
            out.append(f"<b>{esc(r.name)}</b> was not scored for faithfulness ({rho_txt}): its stability is shown but "
                       f"not weighed (run <code>stablex faithfulness RUN --method {esc(r.name)}</code>).")
    out.append(_across(above))
    return [s for s in out if s]


def _across(above: list[MethodRow]) -> str:
    if not above:
        return ("No method's explanations are shown to be more faithful than a random ranking: this run supports no "
                "conclusion about how stable the model's explanations are.")
    if len(above) == 1:
        return (f"The conclusion on stability rests on <b>{esc(above[0].name)}</b>, the only method shown to follow "
                f"the model.")
    best, rest = above[0], above[1:]
    disagree = [r for r in rest if not _overlap(best.rho.get("median_ci"), r.rho.get("median_ci"))]
    names = ", ".join(esc(r.name) for r in above)
    if not disagree:
        return (f"The methods that follow the model ({names}) agree: their stability intervals overlap.")
    parts = []
    for r in disagree:
        g = (((best.faith or {}).get("vs") or {}).get(r.name) or {})
        ci = g.get("comprehensiveness_gain_ci")
        if ci and ci[0] is not None and ci[0] > 0:
            parts.append(f"the evidence favours <b>{esc(best.name)}</b>, more faithful than {esc(r.name)} "
                         f"(comprehensiveness {num(g.get('comprehensiveness_gain'), 3)}{_ci(ci)} higher on the same "
                         f"texts)")
        else:
            diff = f" (difference {num(g.get('comprehensiveness_gain'), 3)}{_ci(ci)})" if g else ""
            parts.append(f"{esc(best.name)} and {esc(r.name)} cannot be told apart on faithfulness{diff}, "
                         f"so the evidence favours neither")
    rhos = "; ".join(f"{esc(r.name)} ρ = {num(r.rho.get('median'), 2)}{_ci(r.rho.get('median_ci'), 2)}"
                     for r in [best, *disagree])
    return f"The faithful methods disagree on stability ({rhos}): {'; '.join(parts)}."


def render(d: ReportData) -> str:
    """The verdict section: accuracy across seeds, then every method weighed by its faithfulness."""
    from stablex.report.sections import missing, section
    from stablex.report.sensitivity import protocol_note

    acc, parts, body = d.accuracy, [], []
    if acc:
        vals = list(acc["by_seed"].values())
        mean, lo, hi = sum(vals) / len(vals), min(vals), max(vals)
        parts.append(f'<div class="card" id="verdict-accuracy"><div class="big">{mean:.3f}<span class="ci"> '
                     f'[{lo:.3f}, {hi:.3f}]</span></div><div class="what">test accuracy: mean [lowest, highest] over '
                     f'{len(vals)} seeds, {acc.get("n_test")} test texts</div></div>')
        how = (f'{len(vals)} models imported from elsewhere (how they were trained, and which random sources '
               f'differ between them, is unknown)' if d.imported else
               f'Trained {len(vals)} times on the same data, changing only the random seed')
        body.append(f'<p id="verdict-accuracy-text">{how}: test accuracy {mean:.3f}, from {lo:.3f} to {hi:.3f}. '
                    f'{esc(acc.get("reading") or "")}</p>')
    else:
        body.append(missing("train", "No trained seed with a test accuracy."))
    rows = method_rows(d)
    if not rows:
        body.append(missing("analyze", "Explanation agreement across seeds needs the analysis stage."))
    else:
        lead = next((r for r in rows if r.status == "above"), None)
        if lead and lead.rho.get("median") is not None:
            parts.append(f'<div class="card" id="verdict-agreement"><div class="big">ρ = {lead.rho["median"]:.2f}'
                         f'<span class="ci">{_ci(lead.rho.get("median_ci"), 2)}</span></div><div class="what">'
                         f'{esc(lead.name)}, the most faithful method: median Spearman ρ between two seeds\' '
                         f'explanations over {lead.rho.get("n_texts")} texts, 95% interval</div></div>')
        if d.faithfulness is None:
            body.append(missing("faithfulness", "Without faithfulness scores no method's stability can be weighed."))
        body.append(figure(rows, d))
        body.append(verdict_table(rows, d))
        body.append("<ul id=\"verdict-sentences\">" + "".join(f"<li>{s}</li>" for s in sentences(rows)) + "</ul>")
    body.append(protocol_note(d))  # a quick study must not read as the paper's measurement
    lede = ("Models trained elsewhere and imported as seeds: how much do accuracy and explanations move between "
            "them, and which explanations follow the model at all?" if d.imported else
            "Same data, same architecture, only the random seed changes: how much do accuracy and "
            "explanations move, and which explanations follow the model at all?")
    return section("verdict", "Verdict", f'<div class="cards">{"".join(parts)}</div>{"".join(body)}', lede)
