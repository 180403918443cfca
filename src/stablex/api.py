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

from rich.table import Table

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


def train(study: StudyConfig, out: str | Path, force: bool = False, show_progress: bool = True, executor=None):
    """One classifier per seed; `executor` (stablex.train.executors) runs the seeds, None: here."""
    from stablex.train.executors import train_distributed

    return train_distributed(study, out, executor, force=force, show_progress=show_progress)


def models(run_dir: str | Path, sizes: list[int] | None = None, margin: float | None = None):
    """Accuracy over seeds, the study's equivalence analysis and the TOST of best vs worst
    (EquivalenceResult); `margin` overrides [analyze] accuracy_margin."""
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
    return ModelsReport(equivalence(acc, n_test, sizes=sizes, correct=test_correctness(run.path, seeds),
                                    margin=margin, power=an.power), acc)


class ModelsReport:
    """EquivalenceResult plus the per-seed accuracies, printable as tables."""

    def __init__(self, result, accuracies: dict[int, float]):
        self.result, self.accuracies = result, accuracies

    def __rich__(self):
        from rich.console import Group

        a = self.result.accuracy
        top = Table(title=f"test accuracy over {a.n_seeds} seed(s), {self.result.n_test} test texts")
        for col in ("mean", "SD", "min", "max"):
            top.add_column(col, justify="right")
        top.add_row(f"{a.mean:.4f}", "-" if a.sd is None else f"{a.sd:.4f}", f"{a.min:.4f}", f"{a.max:.4f}")
        eq = Table(title=f"equivalent models (two-proportion z-test of best vs worst, alpha {self.result.alpha})")
        for col in ("n", "epsilon", "window", "z", "p", "equivalent"):
            eq.add_column(col, justify="right")
        for s in self.result.subsets:
            eq.add_row(str(s.n), f"{s.epsilon:.4f}", f"[{s.low:.4f}, {s.high:.4f}]",
                       "-" if s.z is None else f"{s.z:.2f}", f"{s.p_value:.3f}", "yes" if s.equivalent else "no")
        return Group(top, eq, self._tost_table(), self._tost_caption())

    def _tost_table(self) -> Table:
        r = self.result
        t = Table(title=f"equivalence test (TOST) of best vs worst, margin ±{100 * r.margin:g} points, "
                        f"alpha {r.alpha}; detectable difference and texts needed at {r.power:.0%} power")
        for col in ("n", "best-worst", "d (points)", f"{1 - 2 * r.alpha:.0%} CI", "p TOST", "equivalent",
                    "p diff.", "detectable", "texts needed"):
            t.add_column(col, justify="right")
        for s in r.subsets:
            x = s.tost
            t.add_row(str(s.n), f"{x.best}-{x.worst}" + ("" if x.paired else " (unpaired)"),
                      f"{100 * x.difference:+.2f}", f"[{100 * x.ci[0]:+.2f}, {100 * x.ci[1]:+.2f}]",
                      f"{x.p_value:.3f}", "yes" if x.equivalent else "no", f"{x.p_difference:.3f}",
                      "-" if x.mdd is None else f"{100 * x.mdd:.1f} pts", "-" if x.n_needed is None else f"{x.n_needed:,}")
        return t

    def _tost_caption(self) -> str:
        from stablex.stats.equivalence import accuracy_reading

        return accuracy_reading(self.result)


def explain(run_dir: str | Path, method: str = "lrp", force: bool = False, seeds: list[int] | None = None,
            executor=None, **options):
    """Explain every text of a split with every seed's model; `options` override [explain]."""
    from stablex.rundir import open_run
    from stablex.explain.distributed import explain_distributed

    cfg = _override(open_run(run_dir).config().explain, "explain", options)
    return explain_distributed(run_dir, method, cfg, executor, seeds=seeds, force=force)


def faithfulness(run_dir: str | Path, methods: list[str], n_texts: int | None = None, seed: int | None = None):
    from stablex.explain.faithfulness import faithfulness as _faith
    from stablex.rundir import open_run

    return _faith(run_dir, methods, open_run(run_dir).config().explain, n_texts=n_texts, seed=seed)


def faithfulness_table(run_dir: str | Path, methods: list[str], n_texts: int | None = None,
                       seed: int | None = None) -> Table:
    res = faithfulness(run_dir, methods, n_texts=n_texts, seed=seed)
    t = Table(title=f"faithfulness (AOPC over 1, 5, 10, 20, 50 % of words; 95% bootstrap intervals over texts) "
                    f"-> {res.path}")
    for col in ("method", "comprehensiveness (higher better)", "vs random", "sufficiency (lower better)", "vs random"):
        t.add_column(col, justify="right")

    def cell(v, key: str, ci_key: str) -> str:
        ci = v.get(ci_key) or [None, None]
        return f"{v[key]:+.4f}" + ("" if None in ci else f" [{ci[0]:+.4f}, {ci[1]:+.4f}]")

    for m, s in res.methods.items():
        vs = (s.get("vs") or {}).get("random")
        t.add_row(m, cell(s, "comprehensiveness_aopc", "comprehensiveness_ci"),
                  cell(vs, "comprehensiveness_gain", "comprehensiveness_gain_ci") if vs and m != "random" else "-",
                  cell(s, "sufficiency_aopc", "sufficiency_ci"),
                  cell(vs, "sufficiency_gain", "sufficiency_gain_ci") if vs and m != "random" else "-")
    return t


def analyze(run_dir: str | Path, method: str = "lrp", **options):
    """Agreement across seeds and the rest of analysis/<method>/; `options` override [analyze]."""
    from stablex.rundir import open_run
    from stablex.stats.analyze import analyze as _analyze

    from stablex.features.pos import sensitivity_groups

    study = open_run(run_dir).config()
    cfg = _override(study.analyze, "analyze", options)
    result = _analyze(Path(run_dir), method, cfg)
    if cfg.groups and method != "features":  # by class and part of speech: analysis/<method>/groups.json
        sensitivity_groups(run_dir, method, cfg.bootstrap, study.features.spacy_model, result.summary)
    return result


def features(run_dir: str | Path, n_process: int | None = None, method: str = "lrp") -> Table:
    """Extract features, fit the feature model (word maps per seed), compare stability."""
    from stablex.features.extract import extract_features
    from stablex.features.model import fit_feature_model
    from stablex.features.stability import compare_stability
    from stablex.rundir import open_run

    cfg = _override(open_run(run_dir).config().features, "features", {"n_process": n_process} if n_process else {})
    extract_features(run_dir, cfg)
    fm = fit_feature_model(run_dir, cfg)
    st = compare_stability(run_dir, cfg, method=method)
    t = Table(title="feature model (standardised features + logistic regression)")
    for col in ("split", "accuracy", "macro-F1"):
        t.add_column(col, justify="right")
    for split, m in fm.metrics.items():
        t.add_row(split, f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}")
    t.caption = (f"majority rate {fm.majority_rate:.3f}; deterministic under seeds: {st.deterministic_under_seeds}; "
                 f"stability points -> {st.path}")
    return t


def hybrid(run_dir: str | Path, method: str = "lrp") -> Table:
    from stablex.explain.stage import explanations_dir
    from stablex.features.hybrid import run_hybrid
    from stablex.rundir import open_run

    study = open_run(run_dir).config()
    cfg = _override(study.hybrid, "hybrid", {"method": method})
    res = run_hybrid(run_dir, cfg, explanations_dir(Path(run_dir), method, "train"), features=study.features)
    t = Table(title=f"hybrid: feature model + lexicons from {method} explanations of the training split")
    for col in ("variant (settings by CV)", "pool", "texts", "feature model [95%]", "hybrid [95%]",
                "difference [paired 95%]", "McNemar p"):
        t.add_column(col, justify="left" if col.startswith("variant") else "right")

    def cell(x: float, ci: list | None, fmt: str = ".3f") -> str:
        return f"{x:{fmt}}" + (f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci else "")

    for v, r in res.variants.items():
        for pool in ("test", "held_out"):
            if pool in r:
                c, vs = r[pool], r[pool]["vs_base"]
                t.add_row(v + (" *" if v == res.consensus["variant"] else ""), pool, str(c["n"]),
                          cell(c["base_accuracy"], c.get("base_accuracy_ci")), cell(c["accuracy"], c.get("accuracy_ci")),
                          cell(vs["difference"], vs["ci"], "+.3f"), f"{vs['mcnemar']['p_exact']:.3g}")
    t.caption = (f"* chosen by cross-validation on the training split; accuracies with Wilson intervals -> "
                 f"{res.paths['metrics']}")
    return t


def compare(run_a: str | Path, run_b: str | Path, method: str = "lrp", k: int = 10, n_boot: int = 500,
            n_permutations: int = 9999, out: str | Path | None = None):
    """Explanation sensitivity of run A minus run B (Comparison), written as JSON; returns (result, path)."""
    from stablex.rundir import open_run
    from stablex.stats.compare import compare as _compare
    from stablex.stats.compare import write_comparison

    open_run(run_a), open_run(run_b)  # each a clear error when it is not a run
    result = _compare(run_a, run_b, method, k=k, n_boot=n_boot, n_permutations=n_permutations)
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
