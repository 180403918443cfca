"""`explain` with each seed handed to an executor (stablex.train.executors: local or Ray).

Workers write their seed's parquet; the driver writes `summary.json` once all are back
(concurrent workers would otherwise overwrite each other's records).
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from stablex.config import ExplainConfig
from stablex.train.executors import LocalExecutor, SeedFn, SeedsFailed, mark_start


def _explain_seed(run_dir: str, method: str, config: ExplainConfig, seed: int) -> dict:
    from stablex.explain.stage import explain

    mark_start(f"explain-{method}", seed)
    res = explain(run_dir, method, config, seeds=[seed], show_progress=False)
    return {
        "seed": seed,
        "explained": seed in res.explained,
        "seconds": res.seconds,
        "record": res.summary.get("seeds", {}).get(str(seed)),
        "randomisation": res.summary.get("randomisation"),
        "pid": os.getpid(),
    }


def explain_distributed(
    run_dir: str | Path,
    method: str,
    config: ExplainConfig,
    executor=None,
    seeds: list[int] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    show_progress: bool = True,
):
    """`explain` with each seed handed to `executor`; returns an `ExplainResult` like `explain`.

    Workers write their seed's parquet; the driver writes `summary.json` once all are back
    (concurrent workers would otherwise overwrite each other's records).
    """
    from stablex.explain.stage import explain, plan
    from stablex.progress import progress_or

    executor = executor or LocalExecutor()
    if executor.in_process:
        return explain(
            run_dir, method, config, seeds=seeds, progress=progress, force=force, show_progress=show_progress
        )
    started = time.perf_counter()
    run, out, summary, result, todo = plan(Path(run_dir).resolve(), method, config, seeds, force)
    if not todo:
        return result
    summary_path = run.explanations_summary_path(method, config.split)
    # As locally: the randomisation check runs once, on the first seed explained.
    needs_check = "randomisation" not in summary and config.randomisation_texts > 0
    first_cfg = config if config.threads is not None else config.replace(threads=executor.threads_per_seed)
    other_cfg = first_cfg.replace(randomisation_texts=0)
    if not needs_check:
        first_cfg = other_cfg
    fn_first = functools.partial(_explain_seed, str(run.path), method, first_cfg)
    fn_other = functools.partial(_explain_seed, str(run.path), method, other_cfg)
    fn = functools.partial(_pick, todo[0], fn_first, fn_other)
    records: dict[int, dict] = {}
    failed: SeedsFailed | None = None
    with progress_or(progress, disable=not show_progress) as prog:
        task = prog.add_task(
            f"explain {method} on {executor.name} ({len(result.skipped)} seed(s) done)", total=len(todo)
        )

        def on_done(seed: int, r: dict) -> None:
            records[seed] = r
            prog.advance(task)

        try:
            executor.map_seeds(fn, todo, on_done)
        except SeedsFailed as e:
            failed = e
    _merge_records(summary, summary_path, todo, records, result)
    if failed is not None:
        raise failed
    result.seconds = time.perf_counter() - started
    result.summary = summary
    return result


def _merge_records(summary: dict, summary_path: Path, todo: list[int], records: dict[int, dict], result) -> None:
    """One writer for summary.json: what was there, plus every seed that came back."""
    from stablex.explain.stage import _summarise
    from stablex.io import read_json, write_json

    on_disk = read_json(summary_path) if summary_path.exists() else {}
    if on_disk.get("config") == summary["config"]:  # seeds a killed worker wrote the parquet of, then the record
        for k, v in on_disk.get("seeds", {}).items():
            summary["seeds"].setdefault(k, v)
    for s in todo:  # in sweep order: the first seed's randomisation check is the one kept
        r = records.get(s)
        if r is None:
            continue
        if r.get("record") is not None:
            summary["seeds"][str(s)] = r["record"]
        (result.explained if r.get("explained") else result.skipped).append(s)
        if r.get("randomisation") is not None:
            summary.setdefault("randomisation", r["randomisation"])
    from stablex.explain.stage import from_seed_records
    from stablex.rundir import Run

    rebuilt = from_seed_records(Run(summary_path.parent.parent.parent), summary["method"], summary["split"], summary)
    if summary["seeds"]:
        if not rebuilt:
            _summarise(summary)
        write_json(summary_path, summary)


def _pick(first_seed: int, fn_first: SeedFn, fn_other: SeedFn, seed: int) -> Any:
    return (fn_first if seed == first_seed else fn_other)(seed)
