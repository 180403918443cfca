"""`stablex run`: train -> explain -> analyze -> features -> hybrid -> report, resumable.

Each stage checks what its artefacts already hold and does only what is missing, so a
rerun after an interruption (or after adding seeds) continues where the last one stopped.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from stablex.config import StudyConfig
from stablex.io import read_json
from stablex.progress import progress_or

STAGES = ("train", "explain", "faithfulness", "analyze", "features", "hybrid", "report")


@dataclass
class StudyResult:
    run_dir: Path
    report: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, this call only
    skipped: list[str] = field(default_factory=list)  # stages found complete


def _analysis_current(run_dir: Path, method: str, seeds: list[int]) -> bool:
    return _holds(run_dir / "analysis" / method / "summary.json", seeds=sorted(seeds))


def _explained_seeds(folder: Path) -> list[int]:
    return sorted(int(p.stem.split("-", 1)[1]) for p in folder.glob("seed-*.parquet")) if folder.is_dir() else []


def _holds(path: Path, **inputs) -> bool:
    """Whether the JSON artefact at `path` records these inputs (else it is stale: recompute it).
    Seed lists are compared as sets."""
    if not path.exists():
        return False
    record = read_json(path)

    def norm(key, value):
        return sorted(value or []) if key.endswith("seeds") else value

    return all(norm(k, record.get(k)) == norm(k, v) for k, v in inputs.items())


def run_study(cfg: StudyConfig, out: str | Path, force: bool = False, progress: Progress | None = None,
              show_progress: bool = True, stages: tuple[str, ...] = STAGES, executor=None) -> StudyResult:
    """The whole study in one call; `stages` restricts it (e.g. to stop before the report).

    `executor` (stablex.train.executors: LocalExecutor, RayExecutor) runs the per-seed stages
    (train, explain); None runs them in this process.
    """

    from stablex.explain.faithfulness import faithfulness, missing_methods
    from stablex.explain.stage import explanations_dir
    from stablex.features.extract import extract_features
    from stablex.features.hybrid import run_hybrid
    from stablex.features.pos import sensitivity_groups
    from stablex.features.model import fit_feature_model
    from stablex.features.stability import compare_stability
    from stablex.report import build_report
    from stablex.rundir import open_run
    from stablex.stats.analyze import analyze
    from stablex.explain.distributed import explain_distributed
    from stablex.train.executors import train_distributed

    out = Path(out)
    result = StudyResult(run_dir=out)

    def timed(name: str, fn) -> None:
        t = time.perf_counter()
        fn()
        result.seconds[name] = round(time.perf_counter() - t, 2)

    with progress_or(progress, disable=not show_progress) as prog:
        overall = prog.add_task("study", total=len(stages))
        if "train" in stages:
            timed("train", lambda: train_distributed(cfg, out, executor, force=force, progress=prog))
            prog.advance(overall)
        run = open_run(out)
        seeds = [s for s in run.trained_seeds() if s in cfg.train.seeds]
        methods = list(cfg.explain.methods)
        hybrid_method = cfg.hybrid.method
        if "explain" in stages:
            def do_explain() -> None:
                for m in methods:
                    explain_distributed(out, m, cfg.explain, executor, seeds=seeds, progress=prog)
                if "hybrid" in stages:  # the hybrid's lexicons come from the training split only
                    # a fixed stratified sample of it: [explain] train_texts (None: all of it)
                    explain_distributed(out, hybrid_method, dataclasses.replace(cfg.explain, split="train"),
                                        executor, seeds=seeds, progress=prog)
            timed("explain", do_explain)
            prog.advance(overall)
        if "faithfulness" in stages:  # every explained method, plus the random ranking
            if not missing_methods(out, methods, cfg.explain):
                result.skipped.append("faithfulness")
            else:
                timed("faithfulness", lambda: faithfulness(out, methods, cfg.explain, progress=prog,
                                                           only_missing=True))
            prog.advance(overall)
        if "features" in stages:
            def do_features() -> None:
                extract_features(out, cfg.features, progress=prog)  # cached per text
                # recomputed when the seeds or the method they rest on changed
                if not _holds(out / "explanations" / "features" / "summary.json", seeds=sorted(seeds)):
                    fit_feature_model(out, cfg.features, seeds=seeds)
                if not _holds(out / "features" / "stability.json", method=methods[0],
                              transformer_seeds=_explained_seeds(explanations_dir(out, methods[0]))):
                    compare_stability(out, cfg.features, method=methods[0])
            timed("features", do_features)
            prog.advance(overall)
        if "analyze" in stages:
            def do_analyze() -> None:
                kinds = methods + (["features"] if (out / "explanations" / "features").exists() else [])
                for m in kinds:
                    if not _analysis_current(out, m, seeds):
                        res = analyze(out, m, cfg.analyze, progress=prog)
                        if cfg.analyze.groups and m != "features":
                            sensitivity_groups(out, m, cfg.analyze.bootstrap, cfg.features.spacy_model, res.summary)
            timed("analyze", do_analyze)
            prog.advance(overall)
        if "hybrid" in stages:
            lexicons = explanations_dir(out, hybrid_method, "train")
            if _holds(out / "hybrid" / "metrics.json", config=dataclasses.asdict(cfg.hybrid),
                      seeds=_explained_seeds(lexicons)):
                result.skipped.append("hybrid")
            else:
                timed("hybrid", lambda: run_hybrid(out, cfg.hybrid, lexicons, features=cfg.features))
            prog.advance(overall)
        if "report" in stages:
            t = time.perf_counter()
            result.report = build_report(out)
            result.seconds["report"] = round(time.perf_counter() - t, 2)
            prog.advance(overall)
    return result
