"""How this run departs from the study's protocol (the paper preset), and the measured effect of each
departure on stability where stablex ships a measurement: the verdict's protocol note."""

from __future__ import annotations

import tomllib
from pathlib import Path

from stablex.config import StudyConfig, apply_preset
from stablex.errors import StablexError
from stablex.report.data import ReportData, read_json
from stablex.report.html import signed_interval
from stablex.report.svg import esc, num

# Measurements of how a departure from the study's protocol changes stability ship as data, not
# code: `stablex compare` results (their JSON, plus "protocol_key", "command" and the two runs'
# config hashes and seeds) in studies/compare/measured/<key>.json of a source checkout. The
# report reads them at build time; a departure without one says "not measured".
MEASURED_DIR = Path(__file__).resolve().parents[3] / "studies" / "compare" / "measured"


def shipped_measurement(key: str, folder: Path | None = None) -> dict | None:
    """The shipped comparison for a protocol departure `key`, or None."""
    m = read_json((folder or MEASURED_DIR) / f"{key}.json")
    return m if isinstance(m, dict) and m.get("metrics") else None


def protocol_differences(study_toml: str) -> list[dict]:
    """How this run departs from the paper preset in ways that change what sensitivity means.

    The run's study.toml holds every option written out; it is read as a StudyConfig and
    compared with the paper preset applied to the defaults."""
    try:
        cfg = StudyConfig.from_dict(tomllib.loads(study_toml), source="study.toml")
    except (tomllib.TOMLDecodeError, StablexError):
        return []
    paper = apply_preset(StudyConfig(), "paper")
    out = []
    if cfg.model.freeze_layers == "half" or cfg.model.freeze_layers > paper.model.freeze_layers:
        k = cfg.model.freeze_layers  # "half": a study file read before its encoder was
        out.append(
            {
                "key": "freeze_layers",
                "text": f"the lower {'half of the' if k == 'half' else k} encoder layers "
                f"are frozen (the study fine-tunes every layer)",
            }
        )
    if cfg.corpus.max_tokens < paper.corpus.max_tokens:
        out.append(
            {
                "key": "max_tokens",
                "text": f"texts are cut to {cfg.corpus.max_tokens} tokens (the study: {paper.corpus.max_tokens})",
            }
        )
    if cfg.train.epochs < paper.train.epochs:
        out.append({"key": "epochs", "text": f"{cfg.train.epochs} epoch(s) (the study: {paper.train.epochs})"})
    if cfg.train.batch_size > paper.train.batch_size:
        out.append(
            {
                "key": "batch_size",
                "text": f"batch size {cfg.train.batch_size} (the study: "
                f"{paper.train.batch_size}), so fewer, larger steps",
            }
        )
    if len(cfg.train.seeds) < len(paper.train.seeds):
        out.append({"key": "seeds", "text": f"{len(cfg.train.seeds)} seeds (the study: {len(paper.train.seeds)})"})
    return out


def imported_note(d: ReportData) -> str:
    """For seeds made by `stablex import`: what stablex cannot know about them, said once."""
    imp = d.imported or {}
    return (
        '<div class="note" id="verdict-imported"><strong>Imported seeds.</strong> The '
        f"{esc(imp.get('n_checkpoints', ''))} seeds of this run are checkpoints trained elsewhere "
        "(<code>stablex import</code>; their paths and sha256 are in <code>manifest.json</code>). stablex did not "
        "train them, so their random sources are unknown (head initialisation, data order, dropout, even "
        "pretraining may differ): no source design and no comparison with the study's protocol is claimed for "
        "them.</div>"
    )


def protocol_note(d: ReportData) -> str:
    """One paragraph for the verdict: what in this run is not the study's protocol, with the
    measured effect on stability where stablex has measured it (imported seeds: `imported_note`)."""
    if d.imported:
        return imported_note(d)
    diffs = protocol_differences(d.study_toml)
    if not diffs:
        return ""
    items = []
    for diff in diffs:
        effect = _measured_effect(d, diff["key"])
        items.append(f"<li>{esc(diff['text'])}{effect}</li>")
    return (
        '<div class="note" id="verdict-protocol"><strong>Not the study\'s protocol.</strong> This run departs '
        "from the published setting (stablex's <code>paper</code> preset) as follows, so its figures are not "
        f"the study's measurement:<ul>{''.join(items)}</ul></div>"
    )


def _measured_effect(d: ReportData, key: str, folder: Path | None = None) -> str:
    m = shipped_measurement(key, folder)
    if not m:
        return " (effect on stability not measured by stablex)"
    parts = []
    for name, v in m["metrics"].items():
        if v.get("difference") is None:
            continue
        ci = signed_interval(v.get("ci")) if v.get("ci") else ""
        p = f", p = {v['p_value']:.3g}" if v.get("p_value") is not None else ""
        # the test and the interval can disagree (a permutation p at its floor, a wide interval): say so
        split = v.get("conclusion") == "differs" and v.get("ci") and v["ci"][0] <= 0 <= v["ci"][1]
        note = " (its interval includes 0)" if split else ""
        parts.append(f"{esc(v.get('label', name))} {v['difference']:+.3f}{ci}{p}: {esc(v.get('conclusion', ''))}{note}")
    n_a, n_b = len(m["seeds"]["a"]), len(m["seeds"]["b"])
    return (
        f" — measured by <code>{esc(m.get('command', 'stablex compare'))}</code> ({m['n_texts']['a']} texts, "
        f"{n_a} / {n_b} seeds; models permuted, smallest reachable p {num(m.get('smallest_p'), 3)}): "
        + "; ".join(parts)
        + "".join(f" {esc(n)}." for n in m.get("notes", []))
    )
