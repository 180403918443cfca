"""The verdict: every explained method's stability across seeds weighed by its faithfulness.

A method's agreement across seeds means something about the model only if its explanations
follow the model. Faithfulness has two criteria (ERASER), each judged against the random
floor by the paired 95 % interval, over the same texts and seeds, of the method's AOPC minus the
floor's (RUN/explanations/faithfulness.json, `vs.random`): comprehensiveness (higher is better)
and sufficiency (lower is better). A method above the floor by both is faithful; by one only, the
page names the criterion it fails; no stability conclusion rests on a method that is not
faithful by both. Every comparison between methods is paired: "more faithful" is the paired
interval of the AOPC difference (`vs.<other>`), "differ in stability" the paired multi-bootstrap
of the difference in median rho (RUN/analysis/stability_differences.json); an interval that
includes 0 is called a tie. Stability readings come from the interval of the median Spearman
rho, never from the point alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stablex.records import FaithfulnessRecord
from stablex.report import svg
from stablex.report.data import ReportData
from stablex.report.html import missing, section, table
from stablex.report.protocol import protocol_note
from stablex.report.svg import esc, num
from stablex.rundir import Run
from stablex.stats.method_diff import StabilityDifference, lookup

# Conventional reading bands of the median rank correlation; a reading is given only when the
# whole 95 % interval lies inside one band, otherwise the page says which readings it leaves open.
BANDS = (
    (0.8, 1.01, "largely stable across seeds"),
    (0.5, 0.8, "sharing a core but differing in detail from seed to seed"),
    (-1.01, 0.5, "one draw from a wide distribution: read the consensus of many seeds, not one"),
)
SHORT = {0.8: "largely stable", 0.5: "sharing a core but differing in detail", -1.01: "widely spread"}
CRITERIA = {"comprehensiveness": "comprehensiveness", "sufficiency": "sufficiency"}


@dataclass
class MethodRow:
    """What the verdict knows about one method."""

    name: str
    rule: str | None
    stability: dict  # spearman / fa_k / half_r -> {median, median_ci, n_texts}
    n_seeds: int | None
    faith: dict | None  # the method's entry of faithfulness.json
    status: str  # 'above' | 'partial' | 'floor' | 'below' | 'unscored'
    criteria: dict  # comprehensiveness / sufficiency -> 'above' | 'floor' | 'below' | 'unscored'
    floor_gain: dict = field(default_factory=dict)  # its paired gains over the floor (faithfulness.json vs.<floor>)

    @property
    def rho(self) -> dict:
        return self.stability.get("spearman") or {}

    @property
    def fails(self) -> list[str]:
        """The criteria by which the method is not above the floor (when scored by both)."""
        return [c for c, v in self.criteria.items() if v in ("floor", "below")]


def _gain_status(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "unscored"
    return "above" if ci[0] > 0 else ("below" if ci[1] < 0 else "floor")


def criteria_status(faith: dict | None, floor: str | None) -> dict[str, str]:
    """Each criterion against the floor: the paired interval of the gain (positive = more faithful)."""
    vs = ((faith or {}).get("vs") or {}).get(floor) or {}
    return {c: _gain_status(vs.get(f"{c}_gain_ci")) for c in CRITERIA}


def faith_status(faith: dict | None, floor: str | None) -> str:
    """'above' when both criteria's paired intervals lie above the floor, 'partial' when one does,
    'below' when one lies below and none above, 'floor' (indistinguishable from it) otherwise; 'unscored' without a
    comprehensiveness interval (a file without sufficiency intervals is judged on comprehensiveness)."""
    c = criteria_status(faith, floor)
    if c["comprehensiveness"] == "unscored":
        return "unscored"
    scored = [v for v in c.values() if v != "unscored"]
    if all(v == "above" for v in scored):
        return "above"
    if "above" in scored:
        return "partial"
    return "below" if "below" in scored else "floor"


def rule_name(summary: dict) -> str | None:
    """The LRP rule set as the explanation summary names it (None for non-LRP methods)."""
    rule = summary.get("rule")
    if isinstance(rule, dict):
        return rule.get("name") or rule.get("softmax_rule")
    opts = (summary.get("config") or {}).get("options") or {}
    return f"softmax rule {opts['softmax_rule']}" if "softmax_rule" in opts else None


def method_rows(d: ReportData) -> list[MethodRow]:
    methods = [m for m in d.analyses if not Run.is_feature_model(m)]
    faith = d.faithfulness.methods if d.faithfulness else {}
    floor = d.faithfulness.floor if d.faithfulness else None
    rows = []
    for m in methods:
        s = d.analyses[m].summary
        metrics = s.get("metrics") or {}
        k = "fa_10" if "fa_10" in metrics else next((x for x in metrics if x.startswith("fa_")), None)
        stab = {"spearman": metrics.get("spearman") or {}, "half_r": metrics.get("half_r") or {}}
        if k:
            stab[k] = metrics[k]
        rows.append(
            MethodRow(
                m,
                rule_name(d.explained.get(m, {})),
                stab,
                s.get("n_seeds"),
                faith.get(m),
                faith_status(faith.get(m), floor),
                criteria_status(faith.get(m), floor),
                d.faithfulness.vs_floor(m) if d.faithfulness else {},
            )
        )
    return order_rows(rows)


STATUS_ORDER = {"above": 0, "partial": 1, "floor": 2, "below": 3, "unscored": 4}


def paired_gain(a: MethodRow, b: MethodRow, criterion: str = "comprehensiveness") -> tuple[float | None, list | None]:
    """a's paired gain over b (same texts and seeds; positive = a more faithful) and its interval."""
    g = ((a.faith or {}).get("vs") or {}).get(b.name) or {}
    return g.get(f"{criterion}_gain"), g.get(f"{criterion}_gain_ci")


def beats(a: MethodRow, b: MethodRow) -> bool:
    """a is more faithful than b by paired evidence: comprehensiveness gain above 0, sufficiency
    gain not below 0."""
    _, c = paired_gain(a, b, "comprehensiveness")
    _, s = paired_gain(a, b, "sufficiency")
    return _gain_status(c) == "above" and _gain_status(s) != "below"


def order_rows(rows: list[MethodRow]) -> list[MethodRow]:
    """By status, then by paired wins minus losses against the methods of the same status (a
    point AOPC never orders two methods), then by name: tied methods keep alphabetical order."""

    def score(r: MethodRow) -> int:
        peers = [o for o in rows if o is not r and o.status == r.status]
        return sum(beats(r, o) for o in peers) - sum(beats(o, r) for o in peers)

    return sorted(rows, key=lambda r: (STATUS_ORDER[r.status], -score(r), r.name))


def most_faithful(rows: list[MethodRow]) -> MethodRow | None:
    """The faithful method that beats every other faithful one by paired evidence (None: a tie)."""
    above = [r for r in rows if r.status == "above"]
    for r in above:
        if all(beats(r, o) for o in above if o is not r):
            return r
    return None


def trusted(rows: list[MethodRow]) -> MethodRow | None:
    """The method the verdict reads first: the most faithful, else the first faithful one."""
    return most_faithful(rows) or next((r for r in rows if r.status == "above"), None)


def _ci(ci, digits: int = 3) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" [{num(ci[0], digits)}, {num(ci[1], digits)}]"


def _cell(m: dict, key: str = "median", ci_key: str = "median_ci", digits: int = 3) -> str:
    if not m or m.get(key) is None:
        return "–"
    return f'{num(m[key], digits)}<span class="ci">{_ci(m.get(ci_key), digits)}</span>'


def stability_reading(rho: dict) -> str:
    """The band the median rho's interval lies in, or, in words, the readings it leaves open."""
    ci = rho.get("median_ci")
    if rho.get("median") is None:
        return "no agreement figure"
    if not ci or ci[0] is None:
        return f"median ρ = {rho['median']:.2f} without an interval: no reading"
    for lo, hi, words in BANDS:
        if lo <= ci[0] and ci[1] < hi:
            return words
    spans = [lo for lo, hi, _ in BANDS if ci[0] < hi and ci[1] >= lo]  # highest band first
    cuts = " and ".join(f"{lo:g}" for lo in spans[:-1])
    return (
        f"either {' or '.join(SHORT[lo] for lo in spans)}: the run cannot tell which, as the interval of its "
        f"median ρ ({ci[0]:.2f} to {ci[1]:.2f}) crosses ρ = {cuts}"
    )


def _seeds_text(faith: FaithfulnessRecord | None) -> str:
    seeds = (faith.seeds or ([faith.seed] if faith.seed is not None else [])) if faith else []
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})" if seeds else "– seeds"


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
    floor = d.faithfulness.floor if d.faithfulness else None
    rnd = d.faithfulness.methods.get(floor) or {} if floor else {}
    vlines = []
    if rnd.get("comprehensiveness_aopc") is not None:
        ci = rnd.get("comprehensiveness_ci") or (None, None)
        vlines.append(svg.Point("random ranking", rnd["comprehensiveness_aopc"], 0.0, ci[0], ci[1]))
    ys = [v for p in pts for v in (p.y, p.y_lo, p.y_hi) if v is not None]
    fig = svg.scatter_intervals(
        pts,
        "faithfulness: comprehensiveness AOPC (higher is more faithful)",
        "stability: median Spearman ρ across seeds",
        vlines=vlines,
        ydomain=(min(0.0, *ys), 1.0),
    )
    nf = d.faithfulness.n_texts if d.faithfulness else None
    return (
        f'<figure id="verdict-figure">{fig}<figcaption>Each method: its stability across seeds (median over '
        f"texts of the Spearman ρ between two seeds' word relevances, 95% interval, seeds and texts "
        f"resampled) against its faithfulness (ERASER comprehensiveness AOPC on {nf} texts and the models of "
        f"{_seeds_text(d.faithfulness)}, 95% interval, texts and seeds resampled). The dashed line and grey "
        f"band are the random ranking's comprehensiveness and its interval. Whether a method beats the floor "
        f"or another method is read from the paired differences in the table, not from these marginal "
        f"intervals.</figcaption></figure>"
    )


STATUS_WORDS = {
    "above": "faithful by both criteria",
    "floor": "<strong>indistinguishable from random</strong>",
    "below": "<strong>below random</strong>",
    "unscored": "not scored",
}


def status_words(r: MethodRow) -> str:
    if r.status == "partial":
        return f"<strong>fails {' and '.join(r.fails)}</strong>"
    return STATUS_WORDS[r.status]


def verdict_table(rows: list[MethodRow], d: ReportData) -> str:
    k = next((x for r in rows for x in r.stability if x.startswith("fa_")), "fa_10")
    head = [
        "method",
        "LRP rule",
        "median ρ",
        f"FA@{k[3:]}",
        "half-split r",
        "comprehensiveness AOPC ↑",
        "vs random (paired)",
        "sufficiency AOPC ↓",
        "vs random (paired, + = lower)",
        "texts × seeds (stability · faithfulness)",
        "faithfulness",
    ]
    out = []
    f_all = d.faithfulness
    nf = f_all.n_texts if f_all else None
    sf = len((f_all.seeds or ([f_all.seed] if f_all.seed is not None else [])) if f_all else [])
    for r in rows:
        f = r.faith or {}
        vs = f_all.vs_floor(r.name) if f_all else {}
        n_stab = r.rho.get("n_texts")
        out.append(
            [
                esc(r.name),
                esc(r.rule or "–"),
                _cell(r.rho),
                _cell(r.stability.get(k, {})),
                _cell(r.stability.get("half_r", {})),
                _cell(f, "comprehensiveness_aopc", "comprehensiveness_ci"),
                _cell(vs, "comprehensiveness_gain", "comprehensiveness_gain_ci"),
                _cell(f, "sufficiency_aopc", "sufficiency_ci"),
                _cell(vs, "sufficiency_gain", "sufficiency_gain_ci"),
                f"{n_stab if n_stab is not None else '–'} × {r.n_seeds or '–'} · {f'{nf} × {sf}' if f else '–'}",
                status_words(r),
            ]
        )
    rnd = f_all.methods.get(f_all.floor) if f_all and f_all.floor else None
    if rnd:
        out.append(
            [
                "random ranking",
                "–",
                "–",
                "–",
                "–",
                _cell(rnd, "comprehensiveness_aopc", "comprehensiveness_ci"),
                "–",
                _cell(rnd, "sufficiency_aopc", "sufficiency_ci"),
                "–",
                f"– · {nf} × {sf}",
                "the floor",
            ]
        )
    return table(head, out, "num verdict-table")


def _gain_text(f: dict, vs: dict, criterion: str) -> str:
    side = "above" if criterion == "comprehensiveness" else "below"
    return (
        f"{criterion} {num(f.get(f'{criterion}_aopc'))}{_ci(f.get(f'{criterion}_ci'))}, "
        f"{num(vs.get(f'{criterion}_gain'), 3)}{_ci(vs.get(f'{criterion}_gain_ci'))} {side} the floor's"
    )


def method_sentence(r: MethodRow) -> str:
    """What one method's intervals support."""
    f, rho = r.faith or {}, r.rho
    rho_txt = (
        f"ρ = {num(rho.get('median'), 2)}{_ci(rho.get('median_ci'), 2)}"
        if rho.get("median") is not None
        else "no agreement figure"
    )
    both = (
        f"{_gain_text(f, r.floor_gain, 'comprehensiveness')}; {_gain_text(f, r.floor_gain, 'sufficiency')}, "
        "paired over the same texts and seeds"
    )
    name = f"<b>{esc(r.name)}</b>"
    if r.status == "above":
        return (
            f"{name} is more faithful than a random ranking by both criteria ({both}), and its explanations "
            f"are {stability_reading(rho)} ({rho_txt})."
        )
    if r.status == "partial":
        ok = next(c for c, v in r.criteria.items() if v == "above")
        return (
            f"{name} beats a random ranking by {ok} but not by {' and '.join(r.fails)} ({both}): its "
            f"explanations are {stability_reading(rho)} ({rho_txt}), but as it fails {' and '.join(r.fails)} "
            f"no conclusion about stability rests on it."
        )
    if r.status in ("floor", "below"):
        how = "cannot be told from" if r.status == "floor" else "is below"
        return (
            f"{name}'s faithfulness {how} a random ranking's ({both}): its agreement across seeds "
            f"({rho_txt}) is not shown to be about the model, and no conclusion about stability rests on it."
        )
    return (
        f"{name} was not scored for faithfulness ({rho_txt}): its stability is shown but not weighed (run "
        f"<code>stablex faithfulness RUN --method {esc(r.name)}</code>)."
    )


def sentences(rows: list[MethodRow], differences: dict | None = None) -> list[str]:
    """What the intervals support, method by method, then across methods."""
    out = [method_sentence(r) for r in rows]
    out.append(across(rows, differences))
    return [s for s in out if s]


def _diff_text(sd: StabilityDifference) -> str:
    return (
        f"median ρ of {esc(sd.a)} − {esc(sd.b)} = {num(sd.difference, 3)}{_ci(sd.ci)}, paired over "
        f"{sd.n_texts} texts and {sd.n_seeds} seeds"
    )


def _faith_compare(a: MethodRow, b: MethodRow) -> str:
    g, ci = paired_gain(a, b)
    if beats(a, b):
        return (
            f"the evidence favours <b>{esc(a.name)}</b>, more faithful than {esc(b.name)} (comprehensiveness "
            f"{num(g, 3)}{_ci(ci)} higher on the same texts and seeds)"
        )
    if beats(b, a):
        g2, ci2 = paired_gain(b, a)
        return (
            f"the evidence favours <b>{esc(b.name)}</b>, more faithful than {esc(a.name)} (comprehensiveness "
            f"{num(g2, 3)}{_ci(ci2)} higher on the same texts and seeds)"
        )
    diff = f" (comprehensiveness difference {num(g, 3)}{_ci(ci)})" if g is not None else ""
    return f"{esc(a.name)} and {esc(b.name)} are tied on faithfulness{diff}, so the evidence favours neither"


def across(rows: list[MethodRow], differences: dict | None) -> str:
    """The conclusion across methods: which faithful method it rests on, and whether the faithful
    methods differ in stability by the paired difference of their median ρ."""
    above = [r for r in rows if r.status == "above"]
    if not above:
        return (
            "No method's explanations are shown to be more faithful than a random ranking by both criteria: "
            "this run supports no conclusion about how stable the model's explanations are."
        )
    if len(above) == 1:
        return (
            f"The conclusion on stability rests on <b>{esc(above[0].name)}</b>, the only method shown to follow "
            f"the model by both criteria."
        )
    lead = trusted(rows)
    best = most_faithful(rows)
    head = (
        f"The most faithful method is <b>{esc(best.name)}</b> (it beats every other faithful method on the same "
        f"texts and seeds). "
        if best
        else f"No faithful method beats every other by paired evidence: they are tied on faithfulness, and "
        f"{esc(lead.name)} is read first. "
    )
    parts = []
    for r in above:
        if r is lead:
            continue
        sd = lookup(differences, lead.name, r.name)
        if sd is None or sd.verdict() == "unknown":
            stab = (
                f"{esc(lead.name)} and {esc(r.name)} have no paired stability difference (run "
                f"<code>stablex analyze</code> for both on the same seeds)"
            )
        elif sd.verdict() == "tie":
            stab = (
                f"{esc(lead.name)} and {esc(r.name)} are tied in stability ({_diff_text(sd)}: the interval includes 0)"
            )
        else:
            more = "more" if sd.verdict() == "higher" else "less"
            stab = f"{esc(lead.name)}'s explanations are {more} stable than {esc(r.name)}'s ({_diff_text(sd)})"
        parts.append(f"{stab}; {_faith_compare(lead, r)}")
    return head + "; ".join(parts) + "."


def accuracy_card(acc: dict) -> tuple[str, str]:
    """The accuracy card and sentence: the mean and the range over seeds (not an interval)."""
    vals = list(acc["by_seed"].values())
    mean, lo, hi = sum(vals) / len(vals), min(vals), max(vals)
    card = (
        f'<div class="card" id="verdict-accuracy"><div class="big">{mean:.3f}<span class="ci"> (range '
        f'{lo:.3f}–{hi:.3f})</span></div><div class="what">test accuracy: mean and range (lowest–highest) over '
        f"{len(vals)} seeds, {acc.get('n_test')} test texts</div></div>"
    )
    return card, f"test accuracy {mean:.3f}, from {lo:.3f} to {hi:.3f}"


def protocol_sentence(n: int, bootstrap: bool, imported: bool = False) -> str:
    """How the seeds' models differ: only the seed, the seed and the bootstrap draw it makes, or
    unknown (models imported from elsewhere)."""
    if imported:
        return (
            f"{n} models imported from elsewhere (how they were trained, and which random sources differ "
            f"between them, is unknown)"
        )
    if bootstrap:
        return (
            f"Trained {n} times on bootstrap resamples of the same training texts, each seed drawing its own "
            f"resample and its own random initialisation, data order and dropout"
        )
    return f"Trained {n} times on the same data, changing only the random seed"


def render(d: ReportData) -> str:
    """The verdict section: accuracy across seeds, then every method weighed by its faithfulness."""
    from stablex.stats.load import study_bootstrap

    acc, parts, body = d.accuracy, [], []
    if acc:
        card, figures = accuracy_card(acc)
        parts.append(card)
        how = protocol_sentence(len(acc["by_seed"]), study_bootstrap(d.run_dir), bool(d.imported))
        body.append(f'<p id="verdict-accuracy-text">{how}: {figures}. {esc(acc.get("reading") or "")}</p>')
    else:
        body.append(missing("train", "No trained seed with a test accuracy."))
    rows = method_rows(d)
    if not rows:
        body.append(missing("analyze", "Explanation agreement across seeds needs the analysis stage."))
    else:
        lead = trusted(rows)
        if lead and lead.rho.get("median") is not None:
            role = (
                "the most faithful method"
                if lead is most_faithful(rows)
                else "the only faithful method"
                if sum(r.status == "above" for r in rows) == 1
                else "read first among the faithful methods, tied on faithfulness"
            )
            parts.append(
                f'<div class="card" id="verdict-agreement"><div class="big">ρ = {lead.rho["median"]:.2f}'
                f'<span class="ci">{_ci(lead.rho.get("median_ci"), 2)}</span></div><div class="what">'
                f"{esc(lead.name)}, {role}: median Spearman ρ between two seeds' "
                f"explanations over {lead.rho.get('n_texts')} texts, 95% interval</div></div>"
            )
        if d.faithfulness is None:
            body.append(missing("faithfulness", "Without faithfulness scores no method's stability can be weighed."))
        body.append(figure(rows, d))
        body.append(verdict_table(rows, d))
        body.append(
            '<ul id="verdict-sentences">'
            + "".join(f"<li>{s}</li>" for s in sentences(rows, d.stability_differences))
            + "</ul>"
        )
    body.append(protocol_note(d))  # a quick study must not read as the paper's measurement
    lede = (
        "Models trained elsewhere and imported as seeds: how much do accuracy and explanations move between "
        "them, and which explanations follow the model at all?"
        if d.imported
        else "Same data, same architecture, only the random seed changes: how much do accuracy and "
        "explanations move, and which explanations follow the model at all?"
    )
    return section("verdict", "Verdict", f'<div class="cards">{"".join(parts)}</div>{"".join(body)}', lede)
