"""`stablex run`: train -> explain -> faithfulness -> features -> analyze -> hybrid -> report, resumable.

Each stage checks what its artefacts already hold and does only what is missing, so a
rerun after an interruption (or after adding seeds) continues where the last one stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from stablex.config import StudyConfig
from stablex.progress import progress_or
from stablex.stages import STAGES as STAGE_OBJECTS
from stablex.stages import Study

STAGES = tuple(s.name for s in STAGE_OBJECTS)  # in the order they run (stablex.stages)


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
    from stablex.rundir import Run, lock_run, open_run
    from stablex.runtime import keep_freed_memory

    if cfg.train.keep_freed_memory or cfg.explain.keep_freed_memory:
        keep_freed_memory()

    if "train" in stages:  # the encoder's layers and positions, before anything is written
        from stablex.train.sweep import resolve_encoder

        cfg = resolve_encoder(cfg)
    result = StudyResult(run_dir=Path(out))
    with lock_run(out, doing="writing", wait=wait), progress_or(progress, disable=not show_progress) as prog:
        # every artefact the ledger finds missing or damaged is deleted with what marks its stage
        # done, so that the stages below rebuild exactly it
        result.rebuilt = ledger.repair(Path(out), "")
        overall = prog.add_task("study", total=len(stages))
        for stage in STAGE_OBJECTS:
            if stage.name in stages:
                with ledger.stage(stage.name):
                    study = Study(Run(Path(out)), cfg, executor, prog, tuple(stages), force)
                    if stage.name != "train":  # what it reads: checked, and the inputs its records name
                        ledger.check(Path(out), *stage.reads(cfg))
                    if stage.is_current(study.run, cfg):
                        result.skipped.append(stage.name)
                    else:
                        t = time.perf_counter()
                        stage.record(result, stage.run_study(study))
                        result.seconds[stage.name] = round(time.perf_counter() - t, 2)
                prog.advance(overall)
            if stage.name == "train":
                open_run(out)  # a clear error when there is no run to continue
    return result
