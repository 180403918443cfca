"""Which LRP rule set: faithfulness (ERASER AOPC) and stability across seeds, per softmax rule.

On a trained run (e.g. the quick preset, 3 seeds), for each softmax rule (identity, attnlrp,
detach): explain the test split with every seed (`lrp`, relevance at the word embeddings),
score faithfulness on each seed, and measure agreement between seeds per text (Spearman over
the words and top-5 feature agreement, relevance turned toward the second class so that
seeds predicting differently are compared on one scale). Prints mean ± standard error over
texts (stability) and the mean over seeds of each seed's AOPC ± its standard error.

    python benchmarks/compare_rules.py RUN [--rules identity,attnlrp,detach] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch


def _stability(out: Path, seeds: list[int], classes: list[str]) -> dict[str, tuple[float, float]]:
    from stablex.stats.agreement import agreement

    rel: dict[int, dict[str, np.ndarray]] = {}
    for s in seeds:
        t = pq.read_table(out / f"seed-{s}.parquet").sort_by([("doc_id", "ascending"), ("word_index", "ascending")])
        r = t.column("relevance").to_numpy() * np.where(np.asarray(t.column("target").to_pylist()) == classes[1], 1, -1)
        docs = np.asarray(t.column("doc_id").to_pylist())
        cuts = np.flatnonzero(docs[1:] != docs[:-1]) + 1
        rel[s] = {d[0]: v for d, v in zip(np.split(docs, cuts), np.split(r, cuts))}
    per_text = {"spearman": [], "fa@5": []}
    for d in rel[seeds[0]]:
        vals = [agreement(rel[a][d], rel[b][d], ks=[5]) for a, b in itertools.combinations(seeds, 2)]
        if len(rel[seeds[0]][d]) >= 6:
            per_text["spearman"].append(np.nanmean([v["spearman"] for v in vals]))
            per_text["fa@5"].append(np.mean([v["fa_5"] for v in vals]))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v))), len(v)) for k, v in per_text.items()}


def main() -> None:
    from stablex.explain.faithfulness import faithfulness_path
    from stablex.explain.stage import explanations_dir
    from stablex.rundir import open_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--rules", default="identity,attnlrp,detach")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--texts", type=int, default=100, help="faithfulness texts per seed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = open_run(args.run)
    seeds, classes = run.trained_seeds(), run.classes()
    base = run.config().explain
    print(f"{args.run}: seeds {seeds}, classes {classes}, {args.threads} thread(s)")
    # explain(force=True) replaces RUN/explanations/lrp and faithfulness() rewrites faithfulness.json:
    # the run's own are set aside here and put back at the end
    own = [p for p in (explanations_dir(run.path, "lrp", base.split), faithfulness_path(run.path)) if p.exists()]
    for p in own:
        p.rename(p.with_name(p.name + ".compare-rules-aside"))
    try:
        rows = _compare(args, run, base, seeds, classes)
    finally:
        for p in own:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            p.with_name(p.name + ".compare-rules-aside").rename(p)
    _table(rows)


def _compare(args, run, base, seeds: list[int], classes: list[str]) -> list[tuple]:
    from stablex.explain.faithfulness import faithfulness, faithfulness_path
    from stablex.explain.stage import explain

    rows = []
    for rule in args.rules.split(","):
        cfg = base.replace(per_method={**base.per_method, "lrp": {"softmax_rule": rule}}, randomisation_texts=0)
        cfg = cfg.replace(threads=args.threads)
        keep = args.run / "explanations" / f"lrp-rule-{rule}"
        if not keep.exists():
            res = explain(args.run, "lrp", cfg, force=True, show_progress=False)
            shutil.move(res.out_dir, keep)
        stab = _stability(keep, seeds, classes)
        comp, suff = [], []
        for s in seeds:
            faithfulness_path(run.path).unlink(missing_ok=True)
            f = faithfulness(args.run, ["lrp"], cfg, n_texts=args.texts, seed=s, show_progress=False).methods["lrp"]
            comp.append(f["comprehensiveness_aopc"])
            suff.append(f["sufficiency_aopc"])
        rows.append((rule, np.mean(comp), np.std(comp), np.mean(suff), np.std(suff), stab))
        print(
            f"{rule}: comprehensiveness per seed {np.round(comp, 3)}, sufficiency {np.round(suff, 3)}; {stab}",
            flush=True,
        )
    return rows


def _table(rows: list[tuple]) -> None:
    print(
        "\n| rule | comprehensiveness ↑ (mean over seeds ± sd) | sufficiency ↓ | Spearman between seeds | FA@5 "
        "between seeds |"
    )
    print("|---|---|---|---|---|")
    for rule, c, cs, s, ss, stab in rows:
        print(
            f"| {rule} | {c:.3f} ± {cs:.3f} | {s:.3f} ± {ss:.3f} | {stab['spearman'][0]:.3f} ± "
            f"{stab['spearman'][1]:.3f} | {stab['fa@5'][0]:.3f} ± {stab['fa@5'][1]:.3f} |"
        )
    print(f"(stability: mean ± SE over {rows[0][5]['spearman'][2]} texts of >= 6 words, averaged over seed pairs)")


if __name__ == "__main__":
    main()
