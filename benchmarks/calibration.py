"""Calibration table: every test's false-positive rate under the null, every interval's coverage.

    python benchmarks/calibration.py [--quick] [--out calibration.json] [--docs docs/analysis.md]

Synthetic data with a known truth (stablex.stats.calibration): accuracy at 3, 5, 20 and 200
seeds x 1,000 test texts; explanation statistics at 3, 5, 10, 20 seeds; comparisons of two
runs of one protocol at 2 vs 2, 3 vs 3, 5 vs 5 and 10 vs 10 seeds. Writes calibration.json
(one entry per test and design) and the table between the CALIBRATION markers of
docs/analysis.md. --quick: fewer simulations (the reduced version the tests run is smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stablex.stats import calibration as cal  # noqa: E402

BEGIN, END = "<!-- CALIBRATION:BEGIN -->", "<!-- CALIBRATION:END -->"


def run(quick: bool) -> tuple[list[dict], float]:
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    n_acc = 400 if quick else 2000
    n_exp = 200 if quick else 400
    n_cmp = 100 if quick else 400
    rows = []
    for S in (3, 5, 20, 200):
        rows += cal.accuracy_cases(S, 1000, n_acc if S < 200 else n_acc // 2, rng)
        print(f"accuracy {S} seeds: {time.perf_counter() - t0:.0f} s", flush=True)
    for S in (2, 3, 5, 10, 20):
        rows += cal.explanation_cases(S, 100, 20, n_exp, rng, n_boot=200)
        print(f"explanations {S} seeds: {time.perf_counter() - t0:.0f} s", flush=True)
    for S in (2, 3, 5, 10):
        rows += cal.compare_cases(S, 100, 20, n_cmp, rng, n_boot=200, n_perm=199)
        print(f"compare {S} vs {S}: {time.perf_counter() - t0:.0f} s", flush=True)
    rows += sources(quick, rng)
    return [r.to_dict() for r in rows], time.perf_counter() - t0


def sources(quick: bool, rng: np.random.Generator) -> list:
    rows = []
    for g in (3, 5):
        rows += cal.source_cases(g, 50, 10, 100 if quick else 200, rng)
    # several reference pins, one seed per (pin, source); an interaction makes the reference matter
    for pins, extra, per_pin, delta in ((1, 3, 3, 0.8), (4, 0, 1, 0.8), (6, 0, 1, 0.8), (6, 0, 1, 0.0)):
        rows += cal.pinned_source_cases(pins, extra, per_pin, delta, 30, 8, 100 if quick else 200, rng)
    return rows


def _cpu() -> str:
    """lscpu's model name (the machine the rates were simulated on; they do not depend on it)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.machine()
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def table(rows: list[dict]) -> str:
    out = [
        "| case | seeds | texts | α | false-positive rate | coverage | simulations | printed | role |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fpr = "" if r["false_positive_rate"] is None else f"{100 * r['false_positive_rate']:.1f} %"
        cov = "" if r["coverage"] is None else f"{100 * r['coverage']:.1f} %"
        out.append(
            f"| {r['case']} | {r['seeds']} | {r['texts']} | {r['alpha']} | {fpr} | {cov} | {r['n_sim']} | "
            f"{'yes' if r['printed'] else 'no'} | {r['role']} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("calibration.json"))
    ap.add_argument(
        "--sources-only", action="store_true", help="recompute only the source-design rows and merge them into --out"
    )
    ap.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "analysis.md")
    a = ap.parse_args()
    command = " ".join(["python", *sys.argv])
    sources_part: dict = {}
    if a.sources_only:
        t0 = time.perf_counter()
        new = [r.to_dict() for r in sources(a.quick, np.random.default_rng(2027))]
        old = json.loads(a.out.read_text())
        rows = [r for r in old["cases"] if not r["case"].startswith("sources")] + new
        secs = old["meta"]["seconds"]
        sources_part = {"sources_command": command, "sources_seconds": round(time.perf_counter() - t0, 1)}
        command = old["meta"]["command"].replace(" --sources-only", "")  # the full run's
        print(f"sources: {sources_part['sources_seconds']:.0f} s", flush=True)
    else:
        rows, secs = run(a.quick)
    meta = {
        "quick": a.quick,
        "seconds": round(secs, 1),
        "cpu": _cpu(),
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "command": command,
        **sources_part,
    }
    a.out.write_text(json.dumps({"meta": meta, "cases": rows}, indent=1))
    doc = a.docs.read_text()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        again = (
            f", the source-design rows again by `{meta['sources_command']}` in {meta['sources_seconds']:.0f} s"
            if sources_part
            else ""
        )
        note = (
            f"\n\nMeasured by `{meta['command']}` in {secs:.0f} s{again} "
            f"({'quick: ' if a.quick else ''}OMP_NUM_THREADS={meta['threads']}; CPU {meta['cpu']}).\n\n"
        )
        a.docs.write_text(head + BEGIN + note + table(rows) + "\n\n" + END + tail)
    print(table(rows))
    print(f"{secs:.0f} s -> {a.out}")


if __name__ == "__main__":
    main()
