"""One object per stage: what it reads, whether its artefacts are current, and how it runs.

`api.py` (one stage command, inside its `rundir.writing` frame) and `pipeline.run_study` (the
whole study, skipping what is current) call the same `run` of the same object, so the logic of
a stage is written once. A stage object holds no state; the study's configuration and the run
directory are its arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stablex.config import AnalyzeConfig, ExplainConfig, FeaturesConfig, HybridConfig, StudyConfig
from stablex.rundir import FEATURE_MODEL, Run, stage_artefacts


@dataclass
class Study:
    """What `stablex run` hands every stage: the run, the study, and how to run its seeds."""

    run: Run
    cfg: StudyConfig
    executor: Any = None
    progress: Any = None
    stages: tuple[str, ...] = ()
    force: bool = False

    @property
    def seeds(self) -> list[int]:
        """The study's seeds that are trained (what every later stage rests on)."""
        return [s for s in self.run.trained_seeds() if s in self.cfg.train.seeds]


class Stage:
    """A stage of RUN/: `reads` (folders of RUN/, checked before it starts), `is_current` (its
    artefacts already hold for this configuration: `stablex run` skips it), `run` (do it)."""

    name: ClassVar[str]

    def reads(self, cfg: StudyConfig) -> tuple[str, ...]:
        return stage_artefacts(self.name, methods=tuple(cfg.explain.methods))[0]

    def is_current(self, run: Run, cfg: StudyConfig) -> bool:
        return False  # a stage that resumes by itself (train, explain) is always run

    def run_study(self, st: Study) -> Any:
        """The stage as `stablex run` does it, for the whole study."""
        raise NotImplementedError

    def record(self, result: Any, done: Any) -> None:
        """What of `run_study`'s return the StudyResult keeps (nothing but the stage's time)."""


class Train(Stage):
    name = "train"

    def run(self, cfg: StudyConfig, out: str | Path, executor=None, force=False, progress=None, show_progress=True):
        from stablex.train.executors import train_distributed

        return train_distributed(cfg, out, executor, force=force, progress=progress, show_progress=show_progress)

    def run_study(self, st: Study):
        return self.run(st.cfg, st.run.path, st.executor, force=st.force, progress=st.progress)


class Explain(Stage):
    name = "explain"

    def run(self, out, method: str, cfg: ExplainConfig, executor=None, seeds=None, force=False, progress=None, **kw):
        from stablex.explain.distributed import explain_distributed

        return explain_distributed(out, method, cfg, executor, seeds=seeds, force=force, progress=progress, **kw)

    def run_study(self, st: Study):
        cfg, seeds = st.cfg, st.seeds
        for m in cfg.explain.methods:
            self.run(st.run.path, m, cfg.explain, st.executor, seeds=seeds, progress=st.progress)
        if "hybrid" in st.stages:  # the hybrid's lexicons come from the training split only: a fixed stratified
            # sample of it, [explain] train_texts (None: all of it)
            train = cfg.explain.replace(split="train")
            self.run(st.run.path, cfg.hybrid.method, train, st.executor, seeds=seeds, progress=st.progress)


class Faithfulness(Stage):
    name = "faithfulness"

    def run(self, out, methods: list[str], cfg: ExplainConfig, progress=None, **kw):
        from stablex.explain.faithfulness import faithfulness

        return faithfulness(out, methods, cfg, progress=progress, **kw)

    def is_current(self, run, cfg):
        from stablex.explain.faithfulness import missing_methods

        return not missing_methods(run.path, list(cfg.explain.methods), cfg.explain)

    def run_study(self, st: Study):
        methods = list(st.cfg.explain.methods)
        return self.run(st.run.path, methods, st.cfg.explain, progress=st.progress, only_missing=True)


class Features(Stage):
    """Extract the features (cached per text), fit the feature model (its word maps per seed),
    compare its stability with `method`'s."""

    name = "features"

    def model_current(self, run: Run, seeds: list[int]) -> bool:
        return run.holds(run.explanations_summary_path(FEATURE_MODEL), seeds=seeds)

    def stability_current(self, run: Run, method: str) -> bool:
        return run.holds(run.stability_path, method=method, transformer_seeds=run.explained_seeds(method))

    def run(self, out, cfg: FeaturesConfig, method: str, seeds=None, only_stale=False, progress=None):
        """(FeatureModelResult, StabilityResult); with `only_stale` a current part is not redone (None)."""
        from stablex.features.extract import extract_features
        from stablex.features.model import fit_feature_model
        from stablex.features.stability import compare_stability

        run = Run(out)
        extract_features(out, cfg, progress=progress)  # cached per text
        model = None
        if not (only_stale and self.model_current(run, seeds)):
            model = fit_feature_model(out, cfg, seeds=seeds)
        stability = None
        if not (only_stale and self.stability_current(run, method)):
            stability = compare_stability(out, cfg, method=method)
        return model, stability

    def run_study(self, st: Study):
        # recomputed when the seeds or the method they rest on changed
        cfg = st.cfg
        return self.run(
            st.run.path, cfg.features, cfg.explain.methods[0], st.seeds, only_stale=True, progress=st.progress
        )


class Analyze(Stage):
    """Agreement across seeds for one method (analysis/<method>/), and for an explanation method
    with [analyze] groups its dispersion by class and part of speech (groups.json)."""

    name = "analyze"

    def reads(self, cfg):
        return stage_artefacts("analyze", methods=tuple(cfg.explain.methods) + (FEATURE_MODEL,))[0]

    def run(self, out, method: str, cfg: AnalyzeConfig, spacy_model: str, progress=None):
        from stablex.features.pos import sensitivity_groups
        from stablex.stats.analyze import analyze

        result = analyze(Path(out), method, cfg, progress=progress)
        if cfg.groups and not Run.is_feature_model(method):  # analysis/<method>/groups.json
            sensitivity_groups(out, method, cfg.bootstrap, spacy_model, result.summary)
        return result

    def methods(self, run: Run, cfg: StudyConfig) -> list[str]:
        """What `stablex run` analyses: the study's methods and the feature model once fitted."""
        return list(cfg.explain.methods) + ([FEATURE_MODEL] if run.explanations_dir(FEATURE_MODEL).exists() else [])

    def run_study(self, st: Study):
        run, cfg, seeds = st.run, st.cfg, st.seeds
        for m in self.methods(run, cfg):
            if not run.holds(run.analysis_path(m, "summary.json"), seeds=seeds):
                self.run(run.path, m, cfg.analyze, cfg.features.spacy_model, progress=st.progress)


class Hybrid(Stage):
    """The feature model with lexicons from `[hybrid] method`'s explanations of the training split."""

    name = "hybrid"

    def reads(self, cfg):
        return stage_artefacts("hybrid", method=cfg.hybrid.method)[0]

    def run(self, out, cfg: HybridConfig, features: FeaturesConfig):
        from stablex.features.hybrid import run_hybrid

        return run_hybrid(out, cfg, Run(out).explanations_dir(cfg.method, "train"), features=features)

    def is_current(self, run, cfg):
        seeds = run.explained_seeds(cfg.hybrid.method, "train")
        return run.holds(run.hybrid_metrics_path, config=dataclasses.asdict(cfg.hybrid), seeds=seeds)

    def run_study(self, st: Study):
        return self.run(st.run.path, st.cfg.hybrid, st.cfg.features)


class Report(Stage):
    name = "report"

    def run(self, out) -> Path:
        from stablex.report import build_report

        return build_report(Path(out))

    def run_study(self, st: Study):
        return self.run(st.run.path)

    def record(self, result, done) -> None:
        result.report = done


# in the order they run: the feature model's word maps are analysed like any method, so
# features comes before analyze
STAGES: tuple[Stage, ...] = (Train(), Explain(), Faithfulness(), Features(), Analyze(), Hybrid(), Report())
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
