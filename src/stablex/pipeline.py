"""`stablex run`: train -> explain -> faithfulness -> features -> analyze -> hybrid -> report, resumable.

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
from stablex.progress import progress_or
from stablex.rundir import FEATURE_MODEL

# in the order they run: the feature model's word maps are analysed like any method, so
# features comes before analyze
STAGES = ("train", "explain", "faithfulness", "features", "analyze", "hybrid", "report")


@dataclass
class StudyResult:
    run_dir: Path
    report: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, this call only
    skipped: list[str] = field(default_factory=list)  # stages found complete
    rebuilt: list[str] = field(default_factory=list)  # artefacts found missing or damaged, made again


def run_study(
    cfg: StudyConfig,
    out: str | Path,
    force: bool = False,
    progress: Progress | None = None,
    show_progress: bool = True,
    stages: tuple[str, ...] = STAGES,
    executor=None,
    wait: bool = False,
) -> StudyResult:
    """The whole study in one call; `stages` restricts it (e.g. to stop before the report).

    `executor` (stablex.train.executors: LocalExecutor, RayExecutor) runs the per-seed stages
    (train, explain); None runs them in this process. As an entry point, it makes the study's
    process-wide setting (runtime.keep_freed_memory) when [train] or [explain] asks for it.
    """
    from stablex import ledger
    from stablex.rundir import lock_run, open_run
    from stablex.runtime import keep_freed_memory

    if cfg.train.keep_freed_memory or cfg.explain.keep_freed_memory:
        keep_freed_memory()

    cfg.validate()  # before the run directory is touched or locked
    if "train" in stages:  # the encoder's layers and positions, before anything is written
        from stablex.train.sweep import resolve_encoder

        cfg = resolve_encoder(cfg)
    study = _Study(cfg, Path(out), executor, StudyResult(run_dir=Path(out)), force, tuple(stages))
    steps = {
        "train": _train,
        "explain": _explain,
        "faithfulness": _faithfulness,
        "features": _features,
        "analyze": _analyze,
        "hybrid": _hybrid,
        "report": _report,
    }
    with lock_run(out, doing="writing", wait=wait), progress_or(progress, disable=not show_progress) as prog:
        # every artefact the ledger finds missing or damaged is deleted with what marks its stage
        # done, so that the stages below rebuild exactly it
        study.result.rebuilt = ledger.repair(Path(out), "")
        overall = prog.add_task("study", total=len(stages))
        for name in STAGES:
            if name in stages:
                with ledger.stage(name):
                    if name != "train":  # what it reads: checked, and the inputs its records name
                        ledger.check(Path(out), *_reads(name, study.cfg))
                    steps[name](study, prog)
                prog.advance(overall)
            if name == "train":
                open_run(out)  # a clear error when there is no run to continue
    return study.result


def _reads(stage: str, cfg: StudyConfig) -> tuple[str, ...]:
    """The folders of RUN/ a pipeline stage reads (rundir.stage_artefacts)."""
    from stablex.rundir import stage_artefacts

    methods = tuple(cfg.explain.methods)
    if stage == "hybrid":
        return stage_artefacts("hybrid", method=cfg.hybrid.method)[0]
    if stage == "analyze":
        return stage_artefacts("analyze", methods=methods + (FEATURE_MODEL,))[0]
    return stage_artefacts(stage, methods=methods)[0]


@dataclass
class _Study:
    cfg: StudyConfig
    out: Path
    executor: object
    result: StudyResult
    force: bool = False
    stages: tuple[str, ...] = STAGES

    @property
    def run(self):
        from stablex.rundir import Run

        return Run(self.out)

    @property
    def seeds(self) -> list[int]:
        return [s for s in self.run.trained_seeds() if s in self.cfg.train.seeds]

    def timed(self, name: str, fn) -> None:
        t = time.perf_counter()
        fn()
        self.result.seconds[name] = round(time.perf_counter() - t, 2)


def _train(st: _Study, prog) -> None:
    from stablex.train.executors import train_distributed

    st.timed("train", lambda: train_distributed(st.cfg, st.out, st.executor, force=st.force, progress=prog))


def _explain(st: _Study, prog) -> None:
    from stablex.explain.distributed import explain_distributed

    cfg, seeds = st.cfg, st.seeds

    def do() -> None:
        for m in cfg.explain.methods:
            explain_distributed(st.out, m, cfg.explain, st.executor, seeds=seeds, progress=prog)
        if "hybrid" in st.stages:  # the hybrid's lexicons come from the training split only: a fixed stratified
            # sample of it, [explain] train_texts (None: all of it)
            explain_distributed(
                st.out,
                cfg.hybrid.method,
                dataclasses.replace(cfg.explain, split="train"),
                st.executor,
                seeds=seeds,
                progress=prog,
            )

    st.timed("explain", do)


def _faithfulness(st: _Study, prog) -> None:  # every explained method, plus the baselines
    from stablex.explain.faithfulness import faithfulness, missing_methods

    methods = list(st.cfg.explain.methods)
    if not missing_methods(st.out, methods, st.cfg.explain):
        st.result.skipped.append("faithfulness")
    else:
        st.timed(
            "faithfulness", lambda: faithfulness(st.out, methods, st.cfg.explain, progress=prog, only_missing=True)
        )


def _features(st: _Study, prog) -> None:
    from stablex.features.extract import extract_features
    from stablex.features.model import fit_feature_model
    from stablex.features.stability import compare_stability

    cfg, run, seeds, first = st.cfg, st.run, st.seeds, st.cfg.explain.methods[0]

    def do() -> None:
        extract_features(st.out, cfg.features, progress=prog)  # cached per text
        # recomputed when the seeds or the method they rest on changed
        if not run.holds(run.explanations_summary_path(FEATURE_MODEL), seeds=seeds):
            fit_feature_model(st.out, cfg.features, seeds=seeds)
        if not run.holds(run.stability_path, method=first, transformer_seeds=run.explained_seeds(first)):
            compare_stability(st.out, cfg.features, method=first)

    st.timed("features", do)


def _analyze(st: _Study, prog) -> None:
    from stablex.features.pos import sensitivity_groups
    from stablex.stats.analyze import analyze

    cfg, run, seeds = st.cfg, st.run, st.seeds

    def do() -> None:
        kinds = list(cfg.explain.methods) + ([FEATURE_MODEL] if run.explanations_dir(FEATURE_MODEL).exists() else [])
        for m in kinds:
            if not run.holds(run.analysis_path(m, "summary.json"), seeds=seeds):
                res = analyze(st.out, m, cfg.analyze, progress=prog)
                if cfg.analyze.groups and not run.is_feature_model(m):
                    sensitivity_groups(st.out, m, cfg.analyze.bootstrap, cfg.features.spacy_model, res.summary)

    st.timed("analyze", do)


def _hybrid(st: _Study, prog) -> None:
    from stablex.features.hybrid import run_hybrid

    cfg, run = st.cfg, st.run
    if run.holds(
        run.hybrid_metrics_path,
        config=dataclasses.asdict(cfg.hybrid),
        seeds=run.explained_seeds(cfg.hybrid.method, "train"),
    ):
        st.result.skipped.append("hybrid")
    else:
        st.timed(
            "hybrid",
            lambda: run_hybrid(
                st.out, cfg.hybrid, run.explanations_dir(cfg.hybrid.method, "train"), features=cfg.features
            ),
        )


def _report(st: _Study, prog) -> None:
    from stablex.report import build_report

    def do() -> None:
        st.result.report = build_report(st.out)

    st.timed("report", do)
