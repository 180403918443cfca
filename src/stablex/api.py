"""The Python API behind every CLI command, for notebooks: same names, same options.

    import stablex
    cfg = stablex.StudyConfig.from_toml("studies/lemonde-quick.toml")
    result = stablex.run(cfg, "runs/quick")          # the whole study
    stablex.models("runs/quick")                      # accuracy + equivalence
    stablex.report("runs/quick")                      # -> runs/quick/report/index.html
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from stablex.config import StudyConfig
from stablex.errors import StablexError


def _override(section_cfg, section: str, options: dict):
    """A copy of a config section with `options` replaced; an unknown name is one clear error."""
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(section_cfg)})
    if unknown:
        raise StablexError(f"unknown [{section}] option(s): {', '.join(unknown)}")
    from stablex.config_checks import check_section

    replaced = dataclasses.replace(section_cfg, **options)
    check_section(replaced, section, "options")
    return replaced


def _with_sections(study: StudyConfig, sections: dict[str, dict]) -> StudyConfig:
    """A copy of `study` with options replaced table by table (the caller's config is left as it is)."""
    known = {f.name for f in dataclasses.fields(study) if dataclasses.is_dataclass(getattr(study, f.name))}
    unknown = sorted(set(sections) - known)
    if unknown:
        raise StablexError(f"unknown section(s) {', '.join(unknown)}; the sections are {', '.join(sorted(known))}")
    return dataclasses.replace(study, **{name: _override(getattr(study, name), name, options)
                                         for name, options in sections.items()})


def train(study: StudyConfig, out: str | Path, force: bool = False, show_progress: bool = True, executor=None,
          **sections: dict):
    """One classifier per seed; `executor` (stablex.train.executors) runs the seeds, None: here.
    `sections` override options table by table, e.g. `train={"epochs": 3}, corpus={"max_docs": 400}`."""
    from stablex.train.executors import train_distributed

    return train_distributed(_with_sections(study, sections), out, executor, force=force, show_progress=show_progress)


def models(run_dir: str | Path, sizes: list[int] | None = None, margin: float | None = None):
    """Accuracy over seeds: stablex's reading (`stats.accuracy.SeedAccuracy`: Cochran's Q, the
    seed SD with its interval, equivalence by its upper bound) and the study's equivalence
    windows as the replication (EquivalenceResult); `margin` overrides [analyze] accuracy_margin."""
    from stablex.rundir import open_run
    from stablex.stats.equivalence import equivalence
    from stablex.stats.load import test_correctness

    run = open_run(run_dir)
    seeds = run.trained_seeds()
    if not seeds:
        raise StablexError(f"{run.path}: no trained seeds; run `stablex train` first")
    metrics = {s: run.seed_metrics(s) for s in seeds}
    acc = {s: m["accuracy"]["test"] for s, m in metrics.items()}
    n_test = run.manifest()["split_sizes"]["test"]
    an = run.config().analyze
    margin = an.accuracy_margin if margin is None else margin
    if not 0 < margin < 1:
        raise StablexError(f"option margin={margin}: give the accuracy margin as a fraction in (0, 1), e.g. 0.01")
    from stablex.report.terminal import ModelsReport
    from stablex.stats.accuracy import seed_accuracy

    correct = test_correctness(run.path, seeds)
    return ModelsReport(equivalence(acc, n_test, sizes=sizes, correct=correct, margin=margin, power=an.power), acc,
                        seed_accuracy(correct, margin=margin) if correct else None)


def explain(run_dir: str | Path, method: str = "lrp", force: bool = False, seeds: list[int] | None = None,
            executor=None, **options):
    """Explain every text of a split with every seed's model; `options` override [explain]."""
    from stablex.rundir import open_run
    from stablex.explain.distributed import explain_distributed

    cfg = _override(open_run(run_dir).config().explain, "explain", options)
    return explain_distributed(run_dir, method, cfg, executor, seeds=seeds, force=force)


def faithfulness(run_dir: str | Path, methods: list[str], n_texts: int | None = None, seed: int | None = None):
    """ERASER comprehensiveness and sufficiency of `methods` and the baselines (FaithfulnessReport;
    `.result` is the FaithfulnessResult)."""
    from stablex.explain.faithfulness import faithfulness as _faith
    from stablex.report.terminal import FaithfulnessReport
    from stablex.rundir import open_run

    return FaithfulnessReport(_faith(run_dir, methods, open_run(run_dir).config().explain, n_texts=n_texts, seed=seed))


def analyze(run_dir: str | Path, method: str = "lrp", **options):
    """Agreement across seeds and the rest of analysis/<method>/; `options` override [analyze].
    Returns an AnalysisReport (the AnalysisResult's fields read through it)."""
    from stablex.rundir import open_run
    from stablex.stats.analyze import analyze as _analyze

    from stablex.features.pos import sensitivity_groups
    from stablex.report.terminal import AnalysisReport

    study = open_run(run_dir).config()
    cfg = _override(study.analyze, "analyze", options)
    result = _analyze(Path(run_dir), method, cfg)
    if cfg.groups and method != "features":  # by class and part of speech: analysis/<method>/groups.json
        sensitivity_groups(run_dir, method, cfg.bootstrap, study.features.spacy_model, result.summary)
    return AnalysisReport(result)


def features(run_dir: str | Path, n_process: int | None = None, method: str = "lrp"):
    """Extract features, fit the feature model (word maps per seed), compare stability
    (FeaturesReport: `.model`, `.stability`)."""
    from stablex.features.extract import extract_features
    from stablex.features.model import fit_feature_model
    from stablex.features.stability import compare_stability
    from stablex.report.terminal import FeaturesReport
    from stablex.rundir import open_run

    cfg = _override(open_run(run_dir).config().features, "features", {"n_process": n_process} if n_process else {})
    extract_features(run_dir, cfg)
    return FeaturesReport(fit_feature_model(run_dir, cfg), compare_stability(run_dir, cfg, method=method))


def hybrid(run_dir: str | Path, method: str = "lrp"):
    """The feature model with lexicons from `method`'s training-split explanations (HybridReport;
    `.result` is the HybridResult)."""
    from stablex.features.hybrid import run_hybrid
    from stablex.report.terminal import HybridReport
    from stablex.rundir import open_run

    run = open_run(run_dir)
    study = run.config()
    cfg = _override(study.hybrid, "hybrid", {"method": method})
    return HybridReport(run_hybrid(run_dir, cfg, run.explanations_dir(method, "train"), features=study.features), method)


def compare(run_a: str | Path, run_b: str | Path, method: str = "lrp", k: int = 10, n_boot: int = 500,
            n_permutations: int = 9999, out: str | Path | None = None, seeds_a: list[int] | None = None,
            seeds_b: list[int] | None = None, plan: float | None = None):
    """Explanation sensitivity of run A minus run B (Comparison), written as JSON; returns (result, path).
    `seeds_a` / `seeds_b`: the seeds of each side (two halves of one run: the same run twice);
    `plan`: also the seeds per run needed to detect that difference in median rho."""
    from stablex.rundir import open_run
    from stablex.stats.compare import compare as _compare
    from stablex.stats.compare import write_comparison

    open_run(run_a), open_run(run_b)  # each a clear error when it is not a run
    result = _compare(run_a, run_b, method, k=k, n_boot=n_boot, n_permutations=n_permutations, seeds_a=seeds_a,
                      seeds_b=seeds_b, plan=plan)
    return result, write_comparison(result, out)


def convert(source: str, arch: str, out: str | Path, force: bool = False):
    """Write a BERT-shaped encoder (e5-small) as an XLM-R- or CamemBERT-shaped checkpoint at `out`."""
    from stablex.models.convert import convert as _convert

    return _convert(source, arch, out, force=force)


def report(run_dir: str | Path) -> Path:
    from stablex.report import build_report

    return build_report(Path(run_dir))


def run(study: StudyConfig | str | Path, out: str | Path | None = None, force: bool = False,
        show_progress: bool = True, executor=None):
    """The whole study (train -> explain -> analyze -> features -> hybrid -> report), resumable."""
    from stablex.pipeline import run_study

    cfg = study if isinstance(study, StudyConfig) else StudyConfig.from_toml(study)
    return run_study(cfg, out or Path("runs") / cfg.name, force=force, show_progress=show_progress,
                     executor=executor)
