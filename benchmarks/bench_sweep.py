"""Wall time of one seed sweep with the local executor and with Ray on this machine.

The run is prepared once (corpus, split, base checkpoint: not timed in the ratio), copied
twice, then the same seeds are trained into each copy: in this process one after another
(local executor, torch on every core), and as Ray tasks on a private loopback Ray instance
(`--cpus-per-seed` CPUs and torch threads per task, so several seeds run side by side).
Prints the wall times, the overhead ratio ray/local (goal <= 1.10 on the quick preset),
Ray's start-up time, the round-trip of an empty Ray task, and per seed the time a task
spends outside the training loop (loading the checkpoint, tokenising, caching the frozen
layers, predicting, writing) against the same for the local sweep.

    python benchmarks/bench_sweep.py                       # the quick preset (minutes per seed on 2 cores)
    python benchmarks/bench_sweep.py --max-docs 200 --max-tokens 64 --seeds 4 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

CORPUS = (Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz").resolve()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-docs", type=int, default=None, help="default: the quick preset's 1000")
    ap.add_argument("--max-tokens", type=int, default=None, help="default: the quick preset's 128")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the preset's 5)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's 2")
    ap.add_argument("--cpus-per-seed", type=float, default=1)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    args = ap.parse_args()

    import ray

    from stablex.config import StudyConfig
    from stablex.train.executors import LocalExecutor, RayExecutor, train_distributed
    from stablex.train.sweep import init_run

    data: dict = {"preset": "quick", "corpus": {"path": str(args.corpus)}, "train": {}}
    if args.max_docs:
        data["corpus"]["max_docs"] = args.max_docs
    if args.max_tokens:
        data["corpus"]["max_tokens"] = args.max_tokens
    if args.seeds:
        data["train"]["seeds"] = list(range(args.seeds))
    if args.epochs:
        data["train"]["epochs"] = args.epochs
    cfg = StudyConfig.from_dict(data)
    seeds = cfg.train.seeds
    cores = os.cpu_count() or 1
    print(
        f"sweep: {len(seeds)} seeds, max_docs={cfg.corpus.max_docs}, max_tokens={cfg.corpus.max_tokens}, "
        f"epochs={cfg.train.epochs}, freeze_layers={cfg.model.freeze_layers}; {cores} cores"
    )

    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        t0 = time.perf_counter()
        init_run(cfg, root / "prepared")
        print(f"prepare run (once, not in the ratio): {time.perf_counter() - t0:.1f} s")
        for name in ("local", "ray"):
            shutil.copytree(root / "prepared", root / name)

        t0 = time.perf_counter()
        train_distributed(cfg, root / "local", LocalExecutor(), show_progress=False)
        local_s = time.perf_counter() - t0
        local_train = [
            json.loads((root / "local" / "seeds" / str(s) / "metrics.json").read_text())["train_seconds"] for s in seeds
        ]

        t0 = time.perf_counter()
        ray.init(
            address="local",
            num_cpus=cores,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        start_s = time.perf_counter() - t0

        @ray.remote(num_cpus=args.cpus_per_seed)
        def noop(i):
            return i

        ray.get([noop.remote(i) for i in range(cores)])  # workers up
        rtts = []
        for i in range(30):
            t = time.perf_counter()
            ray.get(noop.remote(i))
            rtts.append(time.perf_counter() - t)

        ex = RayExecutor(cpus_per_seed=args.cpus_per_seed)
        t0 = time.perf_counter()
        per_seed: dict = {}
        orig = ex.map_seeds

        def recording(fn, todo, on_done=None):
            def done(s, r):
                per_seed[s] = r
                if on_done:
                    on_done(s, r)

            return orig(fn, todo, done)

        ex.map_seeds = recording
        train_distributed(cfg, root / "ray", ex, show_progress=False)
        ray_s = time.perf_counter() - t0
        ray.shutdown()
        ray_train = [
            json.loads((root / "ray" / "seeds" / str(s) / "metrics.json").read_text())["train_seconds"] for s in seeds
        ]
        ray_outside = [per_seed[s]["seconds"] - t for s, t in zip(seeds, ray_train)]

        print(
            f"local executor : {local_s:8.1f} s  ({local_s / len(seeds):.1f} s/seed; training loop "
            f"{statistics.mean(local_train):.1f} s/seed on {cores} threads)"
        )
        print(
            f"ray executor   : {ray_s:8.1f} s  ({ray_s / len(seeds):.1f} s/seed; {int(cores // args.cpus_per_seed)} "
            f"seeds at a time; training loop {statistics.mean(ray_train):.1f} s/seed on "
            f"{max(1, int(args.cpus_per_seed))} thread(s))"
        )
        print(
            f"overhead ratio ray/local: {ray_s / local_s:.3f}   (with Ray start-up {start_s:.1f} s: "
            f"{(ray_s + start_s) / local_s:.3f}; goal <= 1.10)"
        )
        print(f"ray scheduling: empty task round-trip {1000 * statistics.median(rtts):.2f} ms (median of 30)")
        local_outside = (local_s - sum(local_train)) / len(seeds)
        print(
            f"per seed outside the training loop: ray {statistics.mean(ray_outside):.2f} s "
            f"(checkpoint load, tokenise, frozen-layer cache, predict, write; every task) vs local "
            f"{local_outside:.2f} s (the cache is built once per sweep)"
        )
    finally:
        if args.keep:
            print(f"runs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
