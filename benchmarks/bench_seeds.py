"""A seed's marginal cost in the quick study (studies/lemonde-quick.toml): old path vs new path.

What one more seed costs is its training loop, its predictions of every split text and its
explanations (lrp, gxi, chefer on the explained test texts; lrp on the training texts for the
hybrid). Measured here in one run on this CPU, on a real run of e5-small (quick preset) with
several trained seeds:

  - train: seconds per training step (the seed's own loop, bfloat16 autocast where native),
    times the study's steps: the same code on both paths (seed packing is not built: see
    docs/performance.md for the measurements that say why on a CPU);
  - predict: seconds per text through the cached lower layers, old path (float32) and new
    path (`[train] predict_precision = "train"`: the training precision), times 1,900 texts;
  - each method: the explain stage's seconds per seed and text (its records' `seconds`, which
    leave out loading the tokenizer and the models, the same on both paths), old path (`[explain]
    seeds_per_pass = 1`: one seed at a time, every layer for every seed) and new path (all
    the run's seeds in one pass: each batch tokenised once, the frozen layers' forward once
    for every seed), times the study's texts. Both paths' relevances
    are compared (max difference relative to each text's largest |relevance|).

The quick study's wall time for 5 and 10 seeds is estimated from the measured per-seed costs
and the study's fixed costs (the frozen-layer cache, faithfulness, features, analyze, hybrid,
report), which are not re-measured here: `--fixed SECONDS`, by default those of `make demo`
on the 2-core Xeon with AMX (298 s); on the AMD EPYC of docs/performance.md the 10-seed run
measured 517 s.

    python benchmarks/bench_seeds.py --quick   # 600 texts, 3 seeds, 48 texts explained: <= 5 min on 2 cores
    python benchmarks/bench_seeds.py           # the quick study's sizes (1,900 texts, 5 seeds)

The last line is `marginal cost per seed, new/old: <ratio>`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = (Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz").resolve()
# the quick study's sizes (studies/lemonde-quick.toml): texts predicted, steps, texts explained
STUDY = {"texts": 1900, "train": 800, "steps": 100, "test_texts": 200, "train_texts": 400}
# the quick study's fixed costs (frozen-layer cache, faithfulness, features, analyze, hybrid,
# report) measured by `make demo` on the 2-core Xeon with AMX (docs/performance.md)
STUDY_FIXED_S = 298.0


def cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")
    flags = [f for f in ("amx_bf16", "avx512_bf16", "avx512f") if f" {f}" in out]
    return f"{name}; {os.cpu_count()} cores; flags: {' '.join(flags) or 'none of amx_bf16/avx512_bf16'}"


def relative_gap(a, b) -> float:
    """Largest |a - b| over words, relative to the largest |relevance| of the word's text."""
    import pyarrow.compute as pc

    key = [("doc_id", "ascending"), ("word_index", "ascending")]
    a, b = a.sort_by(key), b.sort_by(key)
    ra, rb = a["relevance"].to_numpy(), b["relevance"].to_numpy()
    docs = pc.unique(a["doc_id"])
    codes = pc.index_in(a["doc_id"], docs).to_numpy()
    scale = np.zeros(len(docs))
    np.maximum.at(scale, codes, np.abs(ra))
    return float(np.max(np.abs(ra - rb) / np.where(scale[codes] == 0, 1, scale[codes]))) if len(ra) else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="600 texts, 3 seeds, 48 texts explained (<= 5 min)")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--fixed", type=float, default=STUDY_FIXED_S, help="the study's fixed seconds, for the estimate")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from stablex.config import StudyConfig
    from stablex.explain.stage import explain
    from stablex.io import remove
    from stablex.models.classifier import init_classifier, load_seed_model
    from stablex.progress import progress_or
    from stablex.rundir import Run
    from stablex.runtime import keep_freed_memory, torch_threads
    from stablex.train.loop import Inputs, configure_trainable, fit, predict, predict_precision
    from stablex.train.seeds import plan_seed
    from stablex.train.sweep import _sweep_inputs, train

    keep_freed_memory()  # as the CLI does
    docs, split = (600, [300, 50, 250]) if args.quick else (1900, [800, 100, 1000])
    steps = 12 if args.quick else 40
    n_test, n_train = (48, 48) if args.quick else (200, 400)
    seeds = [0, 1, 2] if args.quick else [0, 1, 2, 3, 4]
    cfg = StudyConfig.from_dict(
        {
            "preset": "quick",
            "corpus": {"path": str(args.corpus), "max_docs": docs, "split": split, "max_tokens": 128},
            # the new path: predictions at the training precision (the quick study's setting)
            "train": {"seeds": seeds, "epochs": 1, "predict_precision": "train"},
            "explain": {"methods": ["lrp", "gxi", "chefer"], "texts": n_test, "train_texts": n_train},
        }
    )
    print(f"CPU: {cpu()}")
    with tempfile.TemporaryDirectory() as tmp, torch_threads(os.cpu_count() or 1):
        out = Path(tmp) / "run"
        train(cfg, out, show_progress=False)  # the run and its seeds (the new path), untimed
        run = Run(out)
        stored = run.config()
        k = stored.model.freeze_layers
        print(f"precision: {stored.train.precision}; predictions (new path): {predict_precision(stored.train)}")
        with progress_or(None, disable=True) as prog:
            data = _sweep_inputs(run, stored, prog)

        # train: `steps` steps of a fresh seed, the first two (allocator warm-up) not counted
        plan, _ = plan_seed(stored.train, 99)
        model = init_classifier(run.path, data.classes, plan.init_seed)
        configure_trainable(model, k, stored.model.freeze_embeddings)
        n = steps * stored.train.batch_size
        sub = Inputs(ids=data.train.ids[:n], labels=data.train.labels[:n], cached=data.train.cached[:n])
        times, last = [], [time.perf_counter()]

        def tick(_):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        fit(model, sub, plan, stored.train, k, data.pad_id, tick=tick)
        step_s = float(np.mean(times[2:]))

        # predict: every split text, old (float32) and new (training precision), alternated twice
        loaded = load_seed_model(run.path, 0)
        new_precision = predict_precision(stored.train)
        pred: dict[str, list[float]] = {"float32": [], new_precision: []}  # one key without native bfloat16
        logits_at = {}
        for _ in range(2):
            for p in pred:
                t = time.perf_counter()
                logits_at[p] = predict(loaded.model, data.everything, k, data.pad_id, stored.train.eval_batch_size, p)
                pred[p].append((time.perf_counter() - t) / len(data.everything))
        new_logits, old_logits = logits_at[new_precision], logits_at["float32"]
        pred_old, pred_new = min(pred["float32"]), min(pred[new_precision])
        agree = float((new_logits.argmax(1) == old_logits.argmax(1)).mean())
        gap = float(np.abs(new_logits - old_logits).max())

        # explain: every seed, one at a time (old) and all in one pass (new), the stage's own seconds
        old_m, new_m, gaps = {}, {}, {}
        for method, which, count in (
            ("lrp", "test", STUDY["test_texts"]),
            ("gxi", "test", STUDY["test_texts"]),
            ("chefer", "test", STUDY["test_texts"]),
            ("lrp", "train", STUDY["train_texts"]),
        ):
            key = f"{method}@{which}"
            tables = {}
            for path, spp, into in (("old", 1, old_m), ("new", len(seeds), new_m)):
                ecfg = stored.explain.replace(split=which, randomisation_texts=0, seeds_per_pass=spp)
                remove(run.explanations_dir(method, which))  # the other path's files: explained anew
                res = explain(run.path, method, ecfg, show_progress=False)
                n_texts = res.summary["texts"]["n"]
                # the stage's own seconds per seed (a pass's, shared equally): loading the
                # tokenizer and the models is the same on both paths and is left out
                per_text = float(np.mean([r["seconds"] for r in res.summary["seeds"].values()])) / n_texts
                into[key] = per_text * count
                tables[path] = [pq.read_table(run.explanation_path(method, s, which)) for s in seeds]
                print(f"explain {key} {path}: {1000 * per_text:.1f} ms per seed and text ({n_texts} texts)")
            gaps[key] = max(relative_gap(a, b) for a, b in zip(tables["old"], tables["new"]))

    train_s = step_s * STUDY["steps"]
    old = {"train": train_s, "predict": pred_old * STUDY["texts"], **old_m}
    new = {"train": train_s, "predict": pred_new * STUDY["texts"], **new_m}
    print(f"\nper seed at the quick study's sizes ({STUDY['steps']} steps, {STUDY['texts']} texts predicted,")
    print(f"{STUDY['test_texts']} test / {STUDY['train_texts']} training texts explained; new path: ")
    print(f"{len(seeds)} seeds per explain pass); measured here:")
    print(f"{'stage':<14}{'old s':>9}{'new s':>9}{'new/old':>9}")
    for stage in old:
        print(f"{stage:<14}{old[stage]:9.1f}{new[stage]:9.1f}{new[stage] / old[stage]:9.2f}")
    o, w = sum(old.values()), sum(new.values())
    print(f"{'marginal':<14}{o:9.1f}{w:9.1f}{w / o:9.2f}")
    print(f"predictions new vs old: max |logit difference| {gap:.2e}, same class for {agree:.4f} of the texts")
    for key, g in gaps.items():
        print(f"explanations {key} new vs old: max |difference| / the text's max |relevance| = {g:.1e}")
    for n_seeds in (5, 10):
        print(
            f"quick study, {n_seeds} seeds, estimated ({args.fixed:.0f} s fixed + seeds x marginal): "
            f"old {(args.fixed + n_seeds * o) / 60:.1f} min, new {(args.fixed + n_seeds * w) / 60:.1f} min"
        )
    print(f"marginal cost per seed, new/old: {w / o:.2f}")


if __name__ == "__main__":
    main()
