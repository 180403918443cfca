"""`stablex` command line: a thin skin over the Python API (see stablex/__init__.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from stablex.config import PRESETS, StudyConfig, parse_seeds
from stablex.errors import StablexError
from stablex.explain.methods import METHODS

console = Console(soft_wrap=True)  # no hard wrapping: paths and messages stay on one line
err = Console(stderr=True, soft_wrap=True)


def _root() -> None:
    """stablex: train many seeds, explain every model, measure how much the explanations move."""


def _choices(names) -> str:
    """Help text listing the choices the checks accept (config_checks, the method registry)."""
    return " | ".join(names)


RunArg = Annotated[Path, typer.Argument(help="Run directory")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local | ray: where each seed runs")]
AddressOpt = Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local one)")]
CpusOpt = Annotated[float, typer.Option(help="Ray: CPUs per seed task")]
GpusOpt = Annotated[float, typer.Option(help="Ray: GPUs per seed task")]
Overrides = Optional[dict]  # what the generated flags and --set give (cli_options.with_options)
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for another stablex process writing the run, instead of refusing")
]


def _executor(name: str, address: Optional[str], cpus: float, gpus: float):
    from stablex.train.executors import make_executor  # refuses unknown names itself

    return make_executor(name, address=address, cpus_per_seed=cpus, gpus_per_seed=gpus)


def open_run(path: Path):
    from stablex.rundir import open_run as _open

    return _open(path)


def _keep_freed_memory(wanted: bool) -> None:
    """The one process-wide setting stablex makes (runtime.keep_freed_memory): made here, by
    the command, not by the library calls it makes."""
    if wanted:
        from stablex.runtime import keep_freed_memory

        keep_freed_memory()


def _study(config: Optional[Path], preset: Optional[str]) -> StudyConfig:
    if config is not None:
        return StudyConfig.from_toml(config, preset=preset)
    return StudyConfig.from_dict({"preset": preset} if preset else {}, source="options")


def train(
    out: Annotated[Path, typer.Option("--out", help="Run directory to create or complete")],
    preset: Annotated[Optional[str], typer.Option(help=_choices(PRESETS) + " (quick: CPU)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Study file (TOML)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Discard a run made with another configuration")] = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_seed: CpusOpt = 1,
    gpus_per_seed: GpusOpt = 0,
    wait: WaitOpt = False,
    overrides: Overrides = None,
) -> None:
    """Fine-tune one classifier per seed (resumable: rerun to complete an interrupted sweep)."""
    from stablex.api import check_methods
    from stablex.api import train as train_api

    source = str(config) if config else "options"
    cfg = _study(config, preset).with_sections(overrides or {})
    check_methods(cfg, source)  # the file's [explain] tables, before any training
    _keep_freed_memory(cfg.train.keep_freed_memory)
    with _executor(executor, address, cpus_per_seed, gpus_per_seed) as ex:
        result = train_api(cfg, out, force=force, executor=ex, wait=wait)
    console.print(f"trained {len(result.trained)} seed(s), {len(result.skipped)} already done -> {result.run_dir}")


def models(
    run: RunArg,
    sizes: Annotated[Optional[str], typer.Option(help="Subset sizes n, e.g. 200,150,100,50")] = None,
    margin: Annotated[
        Optional[float],
        typer.Option(help="TOST equivalence margin in accuracy (default [analyze] accuracy_margin, 0.01 = 1 point)"),
    ] = None,
    overrides: Overrides = None,
) -> None:
    """Accuracy over seeds, the study's equivalence analysis (windows, z-tests) and TOST of best vs worst."""
    from stablex.api import models as models_api

    sizes_ = _sizes(sizes) if sizes is not None else None
    console.print(models_api(run, sizes=sizes_, margin=margin, **(overrides or {}).get("analyze", {})))


def _sizes(spec: str) -> list[int]:
    """--sizes 200,150,100: subset sizes (their range is checked against the run's seeds)."""
    try:
        return [int(x) for x in spec.split(",")]
    except ValueError:
        raise StablexError(
            f"--sizes: cannot read {spec!r} (give whole numbers separated by commas, e.g. 4,3,2)"
        ) from None


def explain(
    run: RunArg,
    method: Annotated[str, typer.Option(help=_choices(METHODS))] = "lrp",
    seeds: Annotated[Optional[str], typer.Option(help="Seeds to explain (default: all trained)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Discard explanations made with another config")] = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_seed: CpusOpt = 1,
    gpus_per_seed: GpusOpt = 0,
    wait: WaitOpt = False,
    overrides: Overrides = None,
) -> None:
    """Explain every text of a split with every seed's model (resumable per seed)."""
    from stablex.api import explain as explain_api

    # only what the command line sets overrides the study's [explain] (its target, its split)
    study = open_run(run).config().explain
    options = dict((overrides or {}).get("explain", {}))
    if options.get("split", study.split) == "train" and "texts" in options:  # --texts of the training split
        options["train_texts"] = options.pop("texts")
    _keep_freed_memory(study.keep_freed_memory)
    with _executor(executor, address, cpus_per_seed, gpus_per_seed) as ex:
        res = explain_api(
            run,
            method,
            force=force,
            seeds=parse_seeds(seeds, "--seeds") if seeds is not None else None,
            executor=ex,
            wait=wait,
            **options,
        )
    console.print(f"{method}: explained {len(res.explained)} seed(s), {len(res.skipped)} already done -> {res.out_dir}")


FAITHFULNESS_DEFAULT = ["lrp", "gxi"]  # Typer's default, never mutated


def faithfulness(
    run: RunArg,
    method: Annotated[
        list[str], typer.Option(help=f"Method(s) to score ({_choices(METHODS)}); repeat the option")
    ] = FAITHFULNESS_DEFAULT,
    texts: Annotated[Optional[int], typer.Option(help="Number of sampled texts")] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(
            help="Score only this seed's model (default: the first [explain] faithfulness_seeds trained seeds)"
        ),
    ] = None,
    wait: WaitOpt = False,
    overrides: Overrides = None,
) -> None:
    """ERASER comprehensiveness and sufficiency (AOPC over 1-50 % of words) per method, over seeds."""
    from stablex.api import faithfulness as faithfulness_api

    _keep_freed_memory(open_run(run).config().explain.keep_freed_memory)
    options = (overrides or {}).get("explain", {})
    console.print(faithfulness_api(run, method, n_texts=texts, seed=seed, wait=wait, **options))


def analyze(
    run: RunArg,
    method: Annotated[str, typer.Option(help="A stored explanation method (or 'features')")] = "lrp",
    wait: WaitOpt = False,
    overrides: Overrides = None,
) -> None:
    """Agreement, signal/noise, seeds needed, random sources and lexicon across seeds."""
    from stablex.api import analyze as analyze_api

    console.print(analyze_api(run, method, wait=wait, **(overrides or {}).get("analyze", {})))


def features(run: RunArg, wait: WaitOpt = False, overrides: Overrides = None) -> None:
    """French linguistic features, the feature model, its word maps and the stability comparison."""
    from stablex.api import features as features_api

    console.print(features_api(run, wait=wait, **(overrides or {}).get("features", {})))


def hybrid(
    run: RunArg,
    method: Annotated[str, typer.Option(help="Explanations the lexicons come from")] = "lrp",
    wait: WaitOpt = False,
    overrides: Overrides = None,
) -> None:
    """Feature model + lexicons from the transformer's training-split explanations."""
    from stablex.api import hybrid as hybrid_api

    console.print(hybrid_api(run, method=method, wait=wait, **(overrides or {}).get("hybrid", {})))


def compare(
    run_a: Annotated[Path, typer.Argument(help="Run directory A")],
    run_b: Annotated[Path, typer.Argument(help="Run directory B")],
    method: Annotated[str, typer.Option(help="An explanation method both runs hold")] = "lrp",
    k: Annotated[int, typer.Option(help="k of FA@k")] = 10,
    bootstrap: Annotated[int, typer.Option(help="Multi-bootstrap replicates")] = 500,
    permutations: Annotated[int, typer.Option(help="Permutation-test resamples")] = 9999,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="JSON file (default RUN_A/compare/<B>-<method>.json)")
    ] = None,
    wait: WaitOpt = False,
    seeds_a: Annotated[Optional[str], typer.Option(help="Seeds of run A to compare, e.g. 0,1,2 (default: all)")] = None,
    seeds_b: Annotated[
        Optional[str], typer.Option(help="Seeds of run B, e.g. 3,4 (two halves of one run: RUN RUN)")
    ] = None,
    plan: Annotated[
        Optional[float],
        typer.Option(help="Seeds per run needed to detect this difference in median rho at 80% power (e.g. 0.05)"),
    ] = None,
) -> None:
    """Difference in explanation sensitivity between two runs (or two seed sets of one run): median rho,
    FA@k, half-split r, SNR; the models are permuted between the runs, texts crossed."""
    from stablex.api import compare as compare_api

    def _seeds(v: str | None, opt: str) -> list[int] | None:
        if v is None:
            return None
        try:
            return [int(x) for x in v.split(",") if x.strip()]
        except ValueError:
            raise typer.BadParameter(f"{v!r}: give seeds as integers separated by commas", param_hint=opt) from None

    result, path = compare_api(
        run_a,
        run_b,
        method,
        k=k,
        n_boot=bootstrap,
        n_permutations=permutations,
        out=out,
        seeds_a=_seeds(seeds_a, "--seeds-a"),
        seeds_b=_seeds(seeds_b, "--seeds-b"),
        plan=plan,
        wait=wait,
    )
    console.print(result)
    console.print(f"-> {path}")


def convert(
    source: Annotated[str, typer.Argument(help="A BERT-shaped encoder: e5-small, a path or an HF id in the cache")],
    arch: Annotated[str, typer.Option(help="xlm-roberta | camembert")],
    out: Annotated[Path, typer.Option("--out", help="Directory of the new checkpoint")],
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out")] = False,
) -> None:
    """Rewrite e5-small (BERT-shaped) as an XLM-R- or CamemBERT-shaped checkpoint, for `--model PATH`."""
    from stablex.api import convert as convert_api

    res = convert_api(source, arch, out, force=force)
    console.print(
        f"{res.source} -> {res.arch} checkpoint (positions shifted by {res.position_offset}, no pooler) -> {res.path}"
    )


def import_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory to create")],
    checkpoint: Annotated[
        list[Path],
        typer.Option(
            help="A fine-tuned HF sequence-classification checkpoint (save_pretrained directory); repeat it: "
            "seed n is the n-th"
        ),
    ],
    tokenizer: Annotated[
        Optional[Path], typer.Option(help="Tokenizer directory for checkpoints saved without one")
    ] = None,
    config: Annotated[Optional[Path], typer.Option(help="Study file (TOML) for the later stages' options")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the results of an existing run")] = False,
    overrides: Overrides = None,
) -> None:
    """Analyse models trained elsewhere: N fine-tuned checkpoints become seeds 0..N-1 of a run."""
    from stablex.api import import_models

    res = import_models(_study(config, None), run, checkpoint, tokenizer=tokenizer, force=force, **(overrides or {}))
    accs = ", ".join(f"{a:.3f}" for a in res.accuracy.values())
    console.print(
        f"imported {len(res.seeds)} checkpoint(s) as seeds 0-{len(res.seeds) - 1} (test accuracy {accs}) "
        f"-> {res.run_dir}"
    )


def report(run: RunArg, wait: WaitOpt = False) -> None:
    """Write RUN/report/index.html, one self-contained page."""
    from stablex.api import report as report_api

    console.print(f"report: {report_api(run, wait=wait)}")


def verify(run: RunArg) -> None:
    """Check every artefact of RUN against its ledger (as `git fsck` does): damaged, missing, stale, foreign."""
    from stablex.api import verify as verify_api

    result = verify_api(run)
    for line in result.lines():
        console.print(line, highlight=False)
    if not result.ok:
        sys.exit(1)


def run_cmd(
    study: Annotated[Path, typer.Argument(help="Study file (TOML)")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<name>)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Discard a run made with another configuration")] = False,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    cpus_per_seed: CpusOpt = 1,
    gpus_per_seed: GpusOpt = 0,
    wait: WaitOpt = False,
    stages: Annotated[
        Optional[str],
        typer.Option("--stages", help="Run only these stages, comma-separated (e.g. train,explain,analyze,report)"),
    ] = None,
    overrides: Overrides = None,
) -> None:
    """The whole study: train -> explain -> faithfulness -> features -> analyze -> hybrid -> report (resumable)."""
    from stablex.api import check_methods
    from stablex.api import run as run_api

    cfg = _study(study, None).with_sections(overrides or {}, "--set")
    check_methods(cfg, f"{study} with --set" if overrides else str(study))
    with _executor(executor, address, cpus_per_seed, gpus_per_seed) as ex:
        chosen = None if stages is None else [s.strip() for s in stages.split(",") if s.strip()]
        result = run_api(cfg, out, force=force, executor=ex, wait=wait, stages=chosen)
    for path in result.rebuilt:
        console.print(f"  rebuilt {path} (was missing or damaged)")
    for stage, secs in result.seconds.items():
        console.print(f"  {stage:<13} {secs:8.1f} s")
    console.print(f"report: {result.report}")


# name, function, the command its generated flags belong to, the sections its --set may name
# (None: every section; () : no --set, the command reads no study option)
COMMANDS = [
    ("train", train, None),
    ("models", models, ("analyze",)),
    ("explain", explain, ("explain",)),
    ("faithfulness", faithfulness, ("explain",)),
    ("analyze", analyze, ("analyze",)),
    ("features", features, ("features",)),
    ("hybrid", hybrid, ("hybrid",)),
    ("compare", compare, ()),
    ("convert", convert, ()),
    ("import", import_cmd, None),
    ("report", report, ()),
    ("verify", verify, ()),
    ("run", run_cmd, None),
]


def build_app() -> typer.Typer:
    """The `stablex` app: each command with the flags its options declare (cli_options)."""
    from stablex.cli_options import with_options

    new = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        help="How much do a fine-tuned transformer's explanations depend on its training seed?",
    )
    new.callback()(_root)
    for name, func, sets in COMMANDS:
        new.command(name=name)(func if sets == () else with_options(func, name, sets))
    return new


app = build_app()


def _usage_error() -> type:
    """click's UsageError as this typer raises it (typer >= 0.25 carries its own click)."""
    return typer.BadParameter.__mro__[1]  # BadParameter -> UsageError, in either click


def main() -> None:
    usage_error = _usage_error()
    try:
        code = app(standalone_mode=False)  # click's errors come back here, to be one line
    except usage_error as e:  # an unknown option, a value of the wrong type: one line, as for any error
        if type(e).__name__ == "NoArgsIsHelpError":  # `stablex train` alone: its help, as before
            e.show()
            sys.exit(2)
        where = f"{e.ctx.command_path}: " if e.ctx else ""
        _error(f"{where}{' '.join(e.format_message().split())} (see --help)")
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except StablexError as e:
        _error(str(e))
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # '[corpus]' is text, not markup
    sys.exit(2)


if __name__ == "__main__":
    main()
