"""Write docs/results.md's measured tables from run directories, so a figure cannot drift from the
run that made it.

    python scripts/results.py RUN [RUN ...] [--out docs/results.md]

One section per run, read from its artefacts only (docs/run-directory.md): what the run is
(study, config hash, seeds, texts), the accuracy reading with its interval, stability across
seeds with intervals (analysis/<method>/summary.json), faithfulness (explanations/
faithfulness.json), the hybrid (hybrid/metrics.json), the source design's variance ratios
(summary.json "sources"), its comparisons with other runs (compare/*.json) and training times
when the seeds recorded them. The page starts
with the CPU (`lscpu` model name and the flags that matter: amx_bf16, avx512_bf16) and the
date it was generated. A missing artefact is one line naming the command that makes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tomllib
from pathlib import Path

FLAGS = ("amx_bf16", "avx512_bf16")
STABILITY = ("spearman", "fa_10", "half_r", "snr")  # analyze's metric names


def cpu_line() -> str:
    """`lscpu` model name and which of FLAGS the CPU has."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "CPU: unknown (lscpu not available)"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown").strip()
    flags = set(fields.get("Flags", "").split())
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS)
    cpus = fields.get("CPU(s)", "?").strip()
    return f"CPU: {name}, {cpus} CPUs (`lscpu` flags: {have})"


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _ci(v, ci, fmt: str = ".3f") -> str:
    if v is None:
        return "–"
    if not ci or ci[0] is None:
        return f"{v:{fmt}}"
    return f"{v:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def header(run: Path) -> list[str]:
    manifest = _read(run / "manifest.json") or {}
    study = tomllib.loads((run / "study.toml").read_text()) if (run / "study.toml").exists() else {}
    seeds = sorted(int(p.name) for p in (run / "seeds").glob("*") if (p / "metrics.json").exists())
    split = manifest.get("split_sizes") or {}
    lines = [
        f"## Run `{run.name}` (study `{study.get('name', '?')}`)",
        "",
        f"- config hash `{manifest.get('config_hash', '?')}`, created {manifest.get('created', '?')}",
        f"- {len(seeds)} trained seeds: {', '.join(map(str, seeds)) or 'none'}",
    ]
    if split:
        lines.append(f"- split: {', '.join(f'{k} {v}' for k, v in split.items() if isinstance(v, int))}")
    groups = (study.get("train") or {}).get("groups")
    if groups:
        lines.append(
            "- source design: "
            + "; ".join(f"{g['name']} varies {'+'.join(g['vary'])} ({len(g['seeds'])} seeds)" for g in groups)
        )
    return lines


def accuracy(summary: dict) -> list[str]:
    acc = summary.get("accuracy") or {}
    if not acc.get("available"):
        return [f"Accuracy: not available ({acc.get('reason', 'no accuracy section')})."]
    by_seed = acc.get("by_seed") or {}
    lines = ["### Test accuracy over seeds", ""]
    r = acc.get("seeds")
    if r:
        sd = r["seed_sd"]
        om = r["omnibus"]
        lines += [
            "| seeds | test texts | mean | seed SD [95 %] | one-sided upper | observed SD | test-text noise SD "
            "| omnibus test | p | equally accurate (margin) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['n_seeds']} | {r['n_test']} | {r['mean']:.4f} | {_ci(sd['sd'], sd['ci'], '.4f')} | "
            f"{sd['upper']:.4f} | {sd['observed_sd']:.4f} | {sd['noise_sd']:.4f} | {om['test']} | "
            f"{om['p_value']:.3g} | {'yes' if r['equally_accurate'] else 'not shown'} (±{r['margin']:g}) |",
            "",
        ]
    lines.append("Per seed: " + ", ".join(f"{s}: {a:.4f}" for s, a in by_seed.items()) + ".")
    return lines


def stability(summaries: dict[str, dict]) -> list[str]:
    lines = [
        "### Stability across seeds (median over texts, interval as analyze prints it)",
        "",
        "| method | seeds | texts | " + " | ".join(STABILITY) + " |",
        "|---|---|---|" + "---|" * len(STABILITY),
    ]
    for m, s in summaries.items():
        cells = []
        for k in STABILITY:
            v = (s.get("metrics") or {}).get(k) or {}
            cells.append(_ci(v.get("median"), v.get("median_ci")))
        lines.append(f"| {m} | {s.get('n_seeds')} | {s.get('n_texts')} | " + " | ".join(cells) + " |")
    return lines


def faithfulness(record: dict | None) -> list[str]:
    if record is None:
        return ["Faithfulness: not measured (`stablex faithfulness RUN`)."]
    methods = record.get("methods") or {}
    seeds = record.get("seeds")
    n = len(record.get("doc_ids") or [])
    lines = [
        f"### Faithfulness (AOPC; {n} texts x seeds {seeds}; intervals over texts and seeds)",
        "",
        "| ranking | comprehensiveness (higher) | sufficiency (lower) |",
        "|---|---|---|",
    ]
    for m, v in methods.items():
        lines.append(
            f"| {m} | {_ci(v.get('comprehensiveness_aopc'), v.get('comprehensiveness_ci'))} | "
            f"{_ci(v.get('sufficiency_aopc'), v.get('sufficiency_ci'))} |"
        )
    return lines


def hybrid(record: dict | None) -> list[str]:
    if record is None:
        return ["Hybrid: not measured (`stablex hybrid RUN --method lrp`)."]
    lines = [
        f"### Hybrid (feature model + lexicons from {Path(str(record.get('explanations', '?'))).name} explanations of "
        f"{record.get('n_train_explained', '?')} training texts x seeds {record.get('seeds')}; "
        "paired 95 % intervals over the texts)",
        "",
        "| variant | pool | texts | feature model | hybrid | difference [paired 95 %] | McNemar p |",
        "|---|---|---|---|---|---|---|",
    ]
    for v, r in (record.get("variants") or {}).items():
        for pool in ("test", "held_out"):
            if pool not in r:
                continue
            c, vs = r[pool], r[pool]["vs_base"]
            chosen = " (chosen)" if v == record.get("chosen") else ""
            lines.append(
                f"| {v}{chosen} | {pool} | {c['n']} | {_ci(c['base_accuracy'], c.get('base_accuracy_ci'))} | "
                f"{_ci(c['accuracy'], c.get('accuracy_ci'))} | {_ci(vs['difference'], vs['ci'], '+.3f')} | "
                f"{vs['mcnemar']['p_exact']:.3g} |"
            )
    return lines


def sources(summaries: dict[str, dict]) -> list[str]:
    lines: list[str] = []
    for m, s in summaries.items():
        src = s.get("sources") or {}
        vr = src.get("variance_ratios")
        if not src.get("available") or not vr:
            continue
        check = vr["total_variance_check"]
        pins = src.get("reference_pins")
        lines += [
            f"### Variance ratios of the source design ({m}; reference: {src['reference']}; {vr['models']} models, "
            f"{pins if pins is not None else '?'} reference pins, delete-one-model jackknife)",
            "",
            "| varying sources | pairs | ratio [95 %] |",
            "|---|---|---|",
        ]
        for label, r in vr["ratios"].items():
            lines.append(f"| {label} | {src['pairs'].get(label)} | {_ci(r['ratio'], r['ratio_ci_models'])} |")
        total = check.get("sum_of_single_ratios")
        if vr.get("withheld"):
            lines += ["", f"Intervals withheld: {vr['withheld']}. No ranking of the sources follows.", ""]
            continue
        lines += [
            "",
            "Law of total variance: "
            + ("consistent" if check["consistent"] else "**not consistent**")
            + (f"; single-source ratios sum to {_ci(total, check.get('sum_ci_models'))}" if total is not None else "")
            + (f"; above 1: {', '.join(check['exceeds_total'])}" if check["exceeds_total"] else "")
            + ".",
            "",
        ]
    return lines


def comparisons(run: Path) -> list[str]:
    """RUN/compare/*.json (`stablex compare RUN OTHER`): each figure's medians, difference with its
    multi-bootstrap interval (seeds within runs and texts), the model permutation p and the conclusion."""
    lines: list[str] = []
    for p in sorted((run / "compare").glob("*.json")):
        c = json.loads(p.read_text())
        sa, sb = c["seeds"]["a"], c["seeds"]["b"]
        lines += [
            f"### Compared with `{Path(c['run_b']).name}` ({c['method']}; {'paired' if c['paired'] else 'unpaired'}, "
            f"{c['n_texts']['a']} / {c['n_texts']['b']} texts, {len(sa)} / {len(sb)} seeds; models permuted between "
            f"the runs, smallest reachable p {c['smallest_p']:.3g})"
            if c.get("smallest_p") is not None
            else f"### Compared with `{Path(c['run_b']).name}` ({c['method']}; no model-level test)",
            "",
            "| figure | A | B | A − B [95 %] | p | conclusion |",
            "|---|---|---|---|---|---|",
        ]
        for m in c["metrics"].values():
            diff = _ci(m.get("difference"), m.get("ci"), "+.3f")
            pv = "–" if m.get("p_value") is None else f"{m['p_value']:.3g}"
            a = "–" if m.get("a") is None else f"{m['a']:.3f}"
            b = "–" if m.get("b") is None else f"{m['b']:.3f}"
            lines.append(f"| {m.get('label')} | {a} | {b} | {diff} | {pv} | {m.get('conclusion', '')} |")
        lines.append("")
    return lines


def timings(run: Path) -> list[str]:
    rows = []
    for p in sorted((run / "seeds").glob("*/metrics.json"), key=lambda p: int(p.parent.name)):
        m = json.loads(p.read_text())
        if m.get("train_seconds") is not None:
            rows.append((int(p.parent.name), m["train_seconds"]))
    if not rows:
        return []
    secs = [t for _, t in rows]
    return [
        f"Training time per seed (`metrics.json` train_seconds): {min(secs):.0f}–{max(secs):.0f} s "
        f"over {len(rows)} seeds."
    ]


def section(run: Path) -> list[str]:
    run = Path(run)
    if not (run / "manifest.json").exists():
        raise SystemExit(f"{run}: not a run directory (no manifest.json)")
    summaries = {p.parent.name: json.loads(p.read_text()) for p in sorted((run / "analysis").glob("*/summary.json"))}
    lines = header(run) + [""]
    if summaries:
        lines += accuracy(next(iter(summaries.values()))) + [""] + stability(summaries) + [""]
    else:
        lines += ["Not analysed (`stablex analyze RUN --method M`).", ""]
    lines += faithfulness(_read(run / "explanations" / "faithfulness.json")) + [""]
    lines += hybrid(_read(run / "hybrid" / "metrics.json")) + [""]
    lines += sources(summaries)
    lines += comparisons(run)
    lines += timings(run)
    return lines


def render(runs: list[Path], today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    out = [
        "# Measured results",
        "",
        f"Generated by `python scripts/results.py {' '.join(Path(r).name for r in runs)}` on {today.isoformat()} "
        "from the runs' artefacts; do not edit the tables by hand.",
        f"{cpu_line()}.",
        "",
    ]
    for r in runs:
        out += section(Path(r)) + [""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="file to write (default: print)")
    a = ap.parse_args(argv)
    text = render(a.runs)
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
