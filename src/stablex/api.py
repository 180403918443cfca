"""The Python API behind every CLI command, for notebooks: same names, same options.

import stablex
cfg = stablex.StudyConfig.from_toml("studies/lemonde-quick.toml")
result = stablex.run(cfg, "runs/quick")          # the whole study
stablex.api.models("runs/quick")                      # accuracy + equivalence
stablex.api.report("runs/quick")                      # -> runs/quick/report/index.html
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from stablex.config import StudyConfig
from stablex.errors import StablexError


def _override(study: StudyConfig, section: str, options: dict):
    """`study`'s `[section]` with `options` replaced (StudyConfig.replace, the one override path)."""
    return study.replace(section, **options) if options else study


def _given(**options) -> dict:
    """The options given (None: left to the study)."""
    return {k: v for k, v in options.items() if v is not None}


def train(
    study: StudyConfig,
    out: str | Path,
    force: bool = False,
    show_progress: bool = True,
    executor=None,
    wait: bool = False,
    **sections: dict,
):
    """One classifier per seed; `executor` (stablex.train.executors) runs the seeds, None: here.
    `sections` override options table by table, e.g. `train={"epochs": 3}, corpus={"max_docs": 400}`.
    `wait`: wait for another process writing the run instead of refusing."""
    from stablex.rundir import writing
    from stablex.stages import BY_NAME

    cfg = study.with_sections(sections)
    check_methods(cfg)
    with writing(out, "train", wait=wait):
        return BY_NAME["train"].run(cfg, out, executor, force=force, show_progress=show_progress)


def check_methods(cfg: StudyConfig, source: str = "study") -> None:
    """[explain] methods and [hybrid] method against the method registry, before anything is
    trained (config sits below the registry and cannot check them when the file is read)."""
    from stablex.explain.methods import METHODS, resolve

    for option, names in (("[explain] methods", list(cfg.explain.methods)), ("[hybrid] method", [cfg.hybrid.method])):
        for m in names:
            if m not in METHODS:
                raise StablexError(f"{source}: {option} = {m!r}: unknown method; choose one of {', '.join(METHODS)}")
    for m in cfg.explain.per_method:  # every [explain.<method>] table, read by its method's Options
        if m not in METHODS:
            raise StablexError(f"{source}: [explain.{m}]: no such method; the methods are {', '.join(METHODS)}")
        try:
            resolve(m, cfg.explain)
        except StablexError as e:
            raise StablexError(f"{source}: {e}") from None


def models(run_dir: str | Path, sizes: list[int] | None = None, margin: float | None = None, **options):
    """Accuracy over seeds: stablex's reading (`stats.accuracy.SeedAccuracy`: Cochran's Q, the
    seed SD with its interval, equivalence by its upper bound) and the study's equivalence
    windows as the replication (EquivalenceResult); `margin` overrides [analyze] accuracy_margin,
    `options` other [analyze] options (power)."""
    from stablex import ledger
    from stablex.rundir import open_run, stage_artefacts
    from stablex.stats.equivalence import equivalence
    from stablex.stats.load import test_correctness

    run = open_run(run_dir)
    ledger.check(run.path, *stage_artefacts("models")[0])
    seeds = run.trained_seeds()
    if not seeds:
        raise StablexError(f"{run.path}: no trained seeds; run `stablex train` first")
    if len(seeds) < 2:
        raise StablexError(
            f"{run.path}: {len(seeds)} trained seed; comparing models needs at least two "
            f"(train more with `stablex train --seeds 0-4 --out {run.path} ...`)"
        )
    for n in sizes or ():
        if not 2 <= n <= len(seeds):
            raise StablexError(f"--sizes: {n} is not a subset size of this run (between 2 and its {len(seeds)} seeds)")
    metrics = {s: run.seed_metrics(s) for s in seeds}
    acc = {s: m.accuracy["test"] for s, m in metrics.items()}
    n_test = run.manifest()["split_sizes"]["test"]
    an = _override(run.config(), "analyze", {**options, **_given(accuracy_margin=margin)}).analyze
    margin = an.accuracy_margin
    from stablex.report.terminal import ModelsReport
    from stablex.stats.accuracy import seed_accuracy

    correct = test_correctness(run.path, seeds)
    return ModelsReport(
        equivalence(acc, n_test, sizes=sizes, correct=correct, margin=margin, power=an.power),
        acc,
        seed_accuracy(correct, margin=margin) if correct else None,
    )


def explain(
    run_dir: str | Path,
    method: str = "lrp",
    force: bool = False,
    seeds: list[int] | None = None,
    executor=None,
    wait: bool = False,
    **options,
):
    """Explain every text of a split with every seed's model; `options` override [explain]."""
    from stablex.explain.stage import check_config
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    cfg = _override(open_run(run_dir).config(), "explain", options).explain
    check_config(cfg, method)
    with writing(run_dir, "explain", wait=wait, method=method, split=cfg.split):
        return BY_NAME["explain"].run(run_dir, method, cfg, executor, seeds=seeds, force=force)


def faithfulness(
    run_dir: str | Path,
    methods: list[str],
    n_texts: int | None = None,
    seed: int | None = None,
    wait: bool = False,
    **options,
):
    """ERASER comprehensiveness and sufficiency of `methods` and the baselines (FaithfulnessReport;
    `.result` is the FaithfulnessResult); `options` override [explain]."""
    from stablex.report.terminal import FaithfulnessReport
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    cfg = _override(open_run(run_dir).config(), "explain", {**options, **_given(faithfulness_texts=n_texts)}).explain
    with writing(run_dir, "faithfulness", wait=wait, methods=tuple(methods)):
        return FaithfulnessReport(BY_NAME["faithfulness"].run(run_dir, methods, cfg, n_texts=n_texts, seed=seed))


def analyze(run_dir: str | Path, method: str = "lrp", **options):
    """Agreement across seeds and the rest of analysis/<method>/; `options` override [analyze].
    Returns an AnalysisReport (the AnalysisResult's fields read through it)."""
    from stablex.report.terminal import AnalysisReport
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    wait = bool(options.pop("wait", False))
    study = open_run(run_dir).config()
    cfg = _override(study, "analyze", options).analyze
    with writing(run_dir, "analyze", wait=wait, method=method):
        return AnalysisReport(BY_NAME["analyze"].run(run_dir, method, cfg, study.features.spacy_model))


def features(run_dir: str | Path, n_process: int | None = None, method: str = "lrp", wait: bool = False, **options):
    """Extract features, fit the feature model (word maps per seed), compare stability
    (FeaturesReport: `.model`, `.stability`); `options` override [features]."""
    from stablex.report.terminal import FeaturesReport
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    cfg = _override(open_run(run_dir).config(), "features", {**options, **_given(n_process=n_process)}).features
    with writing(run_dir, "features", wait=wait, method=method):
        return FeaturesReport(*BY_NAME["features"].run(run_dir, cfg, method))


def hybrid(run_dir: str | Path, method: str = "lrp", wait: bool = False, **options):
    """The feature model with lexicons from `method`'s training-split explanations (HybridReport;
    `.result` is the HybridResult); `options` override [hybrid]."""
    from stablex.report.terminal import HybridReport
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    study = open_run(run_dir).config()
    cfg = _override(study, "hybrid", {**options, "method": method}).hybrid
    with writing(run_dir, "hybrid", wait=wait, method=method):
        return HybridReport(BY_NAME["hybrid"].run(run_dir, cfg, study.features), method)


def compare(
    run_a: str | Path,
    run_b: str | Path,
    method: str = "lrp",
    k: int = 10,
    n_boot: int = 500,
    n_permutations: int = 9999,
    out: str | Path | None = None,
    seeds_a: list[int] | None = None,
    seeds_b: list[int] | None = None,
    plan: float | None = None,
    wait: bool = False,
):
    """Explanation sensitivity of run A minus run B (Comparison), written as JSON; returns (result, path).
    `seeds_a` / `seeds_b`: the seeds of each side (two halves of one run: the same run twice);
    `plan`: also the seeds per run needed to detect that difference in median rho."""
    from stablex import ledger
    from stablex.rundir import open_run, stage_artefacts, writing
    from stablex.stats.compare import compare as _compare
    from stablex.stats.compare import write_comparison

    open_run(run_a), open_run(run_b)  # each a clear error when it is not a run
    ledger.check(Path(run_b), *stage_artefacts("compare", method=method)[0])
    with writing(run_a, "compare", wait=wait, method=method):
        result = _compare(
            run_a,
            run_b,
            method,
            k=k,
            n_boot=n_boot,
            n_permutations=n_permutations,
            seeds_a=seeds_a,
            seeds_b=seeds_b,
            plan=plan,
        )
        return result, write_comparison(result, out)


@dataclasses.dataclass
class VerifyResult:
    """What `stablex verify` found: one Problem (stablex.ledger) per artefact at fault."""

    run_dir: Path
    problems: list
    legacy: bool = False  # a run made before the ledger: nothing to check against
    n_artefacts: int = 0

    @property
    def ok(self) -> bool:
        return not self.legacy and not [p for p in self.problems if p.kind != "stale"]

    def lines(self) -> list[str]:
        if self.legacy:
            return [f"{self.run_dir}: no run ledger (made by a stablex before it); nothing to verify against"]
        out = [p.line(self.run_dir) for p in self.problems]
        damaged = sum(p.kind in ("missing", "damaged") for p in self.problems)
        out.append(
            f"{self.run_dir}: {self.n_artefacts} artefact(s) recorded, {damaged} missing or damaged, "
            f"{sum(p.kind == 'stale' for p in self.problems)} stale, "
            f"{sum(p.kind == 'foreign' for p in self.problems)} foreign"
        )
        return out


def verify(run_dir: str | Path) -> VerifyResult:
    """Every artefact of the run against its ledger (stablex.ledger.verify); reads only."""
    from stablex import ledger

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StablexError(f"{run_dir}: no such run directory")
    if not ledger.has_ledger(run_dir):
        if not (run_dir / "manifest.json").exists():
            raise StablexError(f"{run_dir}: not a stablex run directory (no manifest.json, no ledger)")
        return VerifyResult(run_dir, [], legacy=True)
    return VerifyResult(run_dir, ledger.verify(run_dir), n_artefacts=len(ledger.records(run_dir)))


def import_models(
    study: StudyConfig | None,
    out: str | Path,
    checkpoints: list[str | Path],
    tokenizer: str | Path | None = None,
    force: bool = False,
    **sections: dict,
):
    """Fine-tuned HF sequence classifiers (save_pretrained directories) as the seeds 0..N-1 of
    the run `out` (ImportResult); `sections` override options table by table, e.g.
    `corpus={"path": ..., "text": "title", "label": "label", "split_column": "split"}`."""
    from stablex.train.importing import import_models as _import

    return _import((study or StudyConfig()).with_sections(sections), out, checkpoints, tokenizer=tokenizer, force=force)


def convert(source: str, arch: str, out: str | Path, force: bool = False):
    """Write a BERT-shaped encoder (e5-small) as an XLM-R- or CamemBERT-shaped checkpoint at `out`."""
    from stablex.models.convert import convert as _convert

    return _convert(source, arch, out, force=force)


def report(run_dir: str | Path, wait: bool = False) -> Path:
    """Write RUN/report/index.html from what the run holds (every artefact checked first)."""
    from stablex.rundir import open_run, writing
    from stablex.stages import BY_NAME

    open_run(run_dir)
    with writing(run_dir, "report", wait=wait):
        return BY_NAME["report"].run(run_dir)


def run(
    study: StudyConfig | str | Path,
    out: str | Path | None = None,
    force: bool = False,
    show_progress: bool = True,
    executor=None,
    wait: bool = False,
    stages: Sequence[str] | None = None,
):
    """The whole study (train -> explain -> analyze -> features -> hybrid -> report), resumable.

    `stages` runs a subset, in the pipeline's order (a source design needs no hybrid: its
    training-split explanations would cost as much as the test split's)."""
    from stablex.pipeline import STAGES, run_study

    cfg = study if isinstance(study, StudyConfig) else StudyConfig.from_toml(study)
    check_methods(cfg, str(study) if not isinstance(study, StudyConfig) else "study")
    chosen = STAGES if stages is None else tuple(stages)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown or not chosen:
        raise StablexError(f"stages = {list(chosen)}: unknown or none; choose among {', '.join(STAGES)}")
    return run_study(
        cfg,
        out or Path("runs") / cfg.name,
        force=force,
        show_progress=show_progress,
        executor=executor,
        wait=wait,
        stages=tuple(s for s in STAGES if s in chosen),
    )
