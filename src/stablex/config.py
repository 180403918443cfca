"""Study configuration: one frozen dataclass per stage, read from and written to TOML.

A study file has one table per stage (``[corpus]``, ``[model]``, ``[train]``, ``[explain]``,
``[analyze]``, ``[features]``, ``[hybrid]``) and one per explanation method
(``[explain.lrp]``, ``[explain.ig]``, ``[explain.chefer]``, read by the method's own
`Options`, explain/methods.py); every field has a default, so a study file names only what
it changes. ``preset = "quick"`` applies the CPU preset before the file's own values.

Every option is declared once, as a field made by `stablex.options.option` (default, type,
rule, help, command-line flag); a section checks itself when it is made, and
`StudyConfig.replace(section, **values)` is the one way to change a value (the file, a
preset, the CLI's flags and `--set`, the API's overrides all go through it).
docs/configuration.md is generated from these declarations (`python -m stablex.config_doc`).
"""

from __future__ import annotations

import dataclasses
import tomllib
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import tomli_w

from stablex.designs import design_seeds
from stablex.errors import StablexError
from stablex.options import SEED, Rule, Section, at_least, between, one_of, option, positive

# Choices other modules test against: declared here, imported there.
SPLITS = ("train", "validation", "test")
AGGREGATIONS = ("sum", "mean")  # sub-word -> word relevance
VARIANTS = ("counts", "weighted", "words")  # the hybrid's (features/selection.py)
PRECISIONS = ("float32", "bfloat16", "auto")
PREDICT_PRECISIONS = ("train", "float32")
SAVE_DTYPES = ("float32", "float16", "bfloat16")


def parse_seeds(spec: str, where: str = "[train] seeds") -> list[int]:
    """'0-4' -> [0..4]; '0,3,7' -> [0,3,7]; '0-2,9' mixes both."""
    seeds: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-")
                if int(hi) - int(lo) > 1_000_000:
                    raise ValueError
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise StablexError(f"{where} = {spec!r}: cannot be read (use 0-4 or 0,3,7)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise StablexError(f"{where} = {spec!r}: must list distinct non-negative seeds")
    if max(seeds) > 2**31 - 1:
        raise StablexError(f"{where} = {spec!r}: {max(seeds)} is too large (seeds are at most {2**31 - 1})")
    return seeds


def _int_or_text(spec: str) -> int | str:
    return int(spec) if spec.strip().lstrip("-").isdigit() else spec


def _split_shape(spec: Any, _section: Any) -> str | None:
    """Three train/validation/test shares summing to 1, or three counts (whole numbers > 1)."""
    if len(spec) != 3:
        return "give three non-negative train/validation/test shares or counts"
    if all(float(v).is_integer() and v > 1 for v in spec if v) and sum(spec) > 1.0 + 1e-9:
        return None
    if abs(sum(spec) - 1.0) > 1e-6:
        return "shares must sum to 1 (or give three whole counts)"
    return None


def _design(groups: Any, train: Any) -> str | None:
    if groups:
        design_seeds(train, "[train] groups")  # raises, naming the group at fault
        outside = sorted(set(train.seeds) - set(design_seeds(train)))
        if outside:
            return f"[train] seeds {outside} are in no group (with groups, seeds is their union or a part of it)"
    return None


TRAIN_AND_IMPORT = ("train", "import")


@dataclass(frozen=True)
class CorpusConfig(Section):
    SECTION: ClassVar[str] = "corpus"
    path: str = option(
        "../shared/data/lemonde-2022/lemonde-2022.csv.gz",
        help="CSV, CSV.gz, JSONL or Parquet file (relative to the study file)",
        cli="--corpus",
        commands=TRAIN_AND_IMPORT,
    )
    text: str = option(
        "title+summary",
        help="Text column(s), joined with '+', e.g. title+summary (a missing field reads as empty)",
        cli=True,
        commands=TRAIN_AND_IMPORT,
    )
    label: str = option("label", help="Label column", cli=True, commands=TRAIN_AND_IMPORT)
    id: str | None = option(
        "id", help="Id column (none: the row number is the id)", cli=True, commands=TRAIN_AND_IMPORT
    )
    classes: list[str] | None = option(None, help="Class order (index = class id); default: the sorted labels")
    other_labels: str = option(
        "refuse",
        rule=one_of("refuse", "drop"),
        help="Rows whose label is not in `classes`: refuse, or drop them (another task on one corpus)",
    )
    max_docs: int | None = option(
        None, rule=at_least(1), help="Use at most N documents", cli=True, commands=TRAIN_AND_IMPORT
    )
    balance: bool = option(
        False,
        help="Undersample to equal class counts (the study used balanced data)",
        cli="--balance/--no-balance",
        commands=("train",),
    )
    split_seed: int = option(0, rule=SEED, help="Seed of the split, fixed across training seeds")
    split: list[float] = option(
        default_factory=lambda: [0.8, 0.1, 0.1],
        rule=at_least(0),
        check=_split_shape,
        help="train/validation/test shares summing to 1, or three document counts",
    )
    split_column: str | None = option(
        None,
        help="Column giving each row's split (train/validation/test): the split models trained elsewhere were "
        "trained on (`stablex import`); it replaces split, balance and max_docs",
        cli=True,
        commands=("import",),
    )
    preprocess: bool = option(
        False,
        help="The study's NFKC + URL / number placeholders",
        cli="--preprocess/--no-preprocess",
        commands=TRAIN_AND_IMPORT,
    )
    drop_empty: bool = option(False, help="Drop texts that are empty", cli="--drop-empty", commands=TRAIN_AND_IMPORT)
    dedup: bool = option(
        False,
        help="Keep one text per duplicate group (same normalised text or title) instead of refusing a split "
        "with duplicates across train/validation/test",
        cli="--dedup",
        commands=("train",),
    )
    max_tokens: int = option(
        512,
        rule=at_least(3),  # two special tokens and one word
        help="Truncate texts to N tokens",
        cli=True,
        commands=TRAIN_AND_IMPORT,
    )


@dataclass(frozen=True)
class ModelConfig(Section):
    SECTION: ClassVar[str] = "model"
    name: str = option(
        "e5-small", help="e5-small, an HF id in the local cache, or a local path", cli="--model", commands=("train",)
    )
    trim_vocab: bool = option(True, help="Keep only the embedding rows of pieces the corpus uses")
    freeze_layers: int | str = option(
        0,
        rule=Rule(
            lambda v: v == "half" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
            '>= 0, or "half" (of the encoder\'s layers)',
        ),
        help='Freeze (and cache) the lower N encoder layers; "half": half of them (study.toml then holds the number)',
        cli=True,
        commands=("train",),
        parse=_int_or_text,
    )
    freeze_embeddings: bool = option(False, help="Freeze the embeddings too")
    keep_models: bool = option(
        True, help="Keep each seed's trained weights", cli="--keep-models/--no-keep-models", commands=("train",)
    )
    save_dtype: str = option("float32", rule=one_of(*SAVE_DTYPES), help="dtype of the stored trained weights")


@dataclass(frozen=True)
class TrainConfig(Section):
    SECTION: ClassVar[str] = "train"
    seeds: list[int] = option(
        default_factory=lambda: list(range(5)),
        rule=SEED,
        non_empty=True,
        distinct=True,
        help="Training seeds: 0-4 or 0,3,7 on the command line",
        cli=True,
        commands=("train",),
        parse=parse_seeds,
    )
    lr: float = option(2e-5, rule=positive(), help="AdamW learning rate", cli=True, commands=("train",))
    eps: float = option(1e-8, rule=positive(), help="AdamW epsilon")
    weight_decay: float = option(0.0, rule=at_least(0), help="AdamW weight decay")
    epochs: int = option(2, rule=at_least(1), help="Training epochs", cli=True, commands=("train",))
    batch_size: int = option(4, rule=at_least(1), help="Training batch size", cli=True, commands=("train",))
    eval_batch_size: int = option(32, rule=at_least(1), help="Batch size of the predictions (speed only)")
    max_grad_norm: float = option(1.0, rule=positive(), help="Gradient clipping norm")
    warmup_ratio: float = option(0.0, rule=between(0, 1, open_hi=True), help="Share of steps with linear warm-up")
    init_seed: int | None = option(
        None,
        rule=SEED,
        help="Pin the head initialisation seed (none: derived from the seed)",
        cli=True,
        commands=("train",),
    )
    order_seed: int | None = option(
        None, rule=SEED, help="Pin the data-order seed (none: derived from the seed)", cli=True, commands=("train",)
    )
    dropout_seed: int | None = option(
        None, rule=SEED, help="Pin the dropout seed (none: derived from the seed)", cli=True, commands=("train",)
    )
    bootstrap: bool = option(
        False,
        help="Train each seed on a bootstrap draw of the training split (resampling randomness)",
        cli="--bootstrap/--no-bootstrap",
        commands=("train",),
    )
    groups: list[dict] = option(
        default_factory=list,
        check=_design,
        help="A source design: groups of seeds, each varying some sources with the others pinned, e.g. "
        '[{name = "init", vary = ["init"], seeds = [0, 1]}]; seeds is then their union and the pins above unset',
    )
    pin_seed: int = option(0, rule=SEED, help="A group's pinned sources take the values derived from this seed")
    threads: int | None = option(
        None, rule=at_least(1), help="Torch threads (none: all cores)", cli=True, commands=TRAIN_AND_IMPORT
    )
    device: str = option(
        "auto",
        rule=Rule(lambda v: v in ("auto", "cpu", "cuda") or v.startswith("cuda:"), "auto, cpu, cuda or cuda:N"),
        help="Where to train",
    )
    keep_freed_memory: bool = option(
        True, help="glibc malloc reuses freed blocks (runtime.keep_freed_memory): faster, holds peak RSS"
    )
    precision: str = option(
        "float32",
        rule=one_of(*PRECISIONS),
        help="Training steps in float32, or bfloat16 autocast; auto: bfloat16 where the device multiplies it "
        "natively (resolved when the run is created)",
        cli=True,
        commands=("train",),
    )
    predict_precision: str = option(
        "float32",
        rule=one_of(*PREDICT_PRECISIONS),
        help="Predictions of the split's texts in float32, or at the training precision (train: bfloat16 "
        "autocast when training is bfloat16; logits stored float32; another run identity); docs/performance.md",
    )


# Flat [explain] names of method options, from before each method had its table: still read.
LEGACY_METHOD_OPTIONS = {
    "softmax_rule": ("lrp", "softmax_rule"),
    "ig_steps": ("ig", "steps"),
    "ig_batch": ("ig", "internal_batch"),
    "chefer_start_layer": ("chefer", "start_layer"),
    "chefer_softmax_rule": ("chefer", "softmax_rule"),
}


def _tables(value: Any, _section: Any) -> str | None:
    bad = [k for k, v in value.items() if not isinstance(v, dict)]
    return f"[explain.{bad[0]}] must be a table of that method's options" if bad else None


@dataclass(frozen=True)
class ExplainConfig(Section):
    SECTION: ClassVar[str] = "explain"
    methods: list[str] = option(
        default_factory=lambda: ["lrp"], non_empty=True, help="Methods `stablex run` explains with"
    )
    split: str = option("test", rule=one_of(*SPLITS), help="Split explained", cli=True, commands=("explain",))
    target: str = option(
        "predicted", help="Class explained: predicted, label or a class name", cli=True, commands=("explain",)
    )
    aggregate: str = option(
        "sum",
        rule=one_of(*AGGREGATIONS),
        help="Sub-words -> word: sum (conserves relevance) or mean (the study)",
        cli=True,
        commands=("explain",),
    )
    batch_size: int = option(16, rule=at_least(1), help="Texts per batch (speed only)")
    max_docs: int | None = option(
        None,
        rule=at_least(1),
        help="Explain only the first N texts of the split (kept for old runs; prefer texts)",
        cli=True,
        commands=("explain",),
    )
    texts: int | None = option(
        None,
        rule=at_least(1),
        help="A fixed subset of N texts of the validation/test split, stratified by label, drawn with [corpus] "
        "split_seed (none: the whole split); on the command line, train_texts with --split train",
        cli=True,
        commands=("explain",),
    )
    train_texts: int | None = option(
        None, rule=at_least(1), help="Likewise for the training split (what `stablex run` explains for the hybrid)"
    )
    batch_tokens: int = option(
        4096, rule=at_least(1), help="At most batch_size texts and about this many padded tokens per batch"
    )
    seeds_per_pass: int = option(
        5,
        rule=at_least(1),
        help="Seeds explained together, texts outer and seeds inner: each batch tokenised once and the frozen "
        "layers run once for all of them (speed and memory only; docs/performance.md)",
    )
    randomisation_texts: int = option(8, rule=at_least(0), help="Texts of the cascading-randomisation check (0: skip)")
    faithfulness_texts: int = option(
        100, rule=at_least(1), help="Texts sampled (from the explained texts) for `stablex faithfulness`"
    )
    faithfulness_bootstrap: int = option(
        2000, rule=at_least(0), help="Bootstrap replicates (over texts and seeds) of the AOPC intervals"
    )
    faithfulness_seeds: int = option(3, rule=at_least(0), help="The first n trained seeds scored (0: every seed)")
    faithfulness_permutations: int = option(
        5, rule=at_least(1), help="Uniform random word rankings per text and seed, averaged (the floor)"
    )
    threads: int | None = option(None, rule=at_least(1), help="Torch threads (none: torch's default)")
    keep_freed_memory: bool = option(
        True, help="glibc malloc reuses freed blocks (runtime.keep_freed_memory): faster, holds peak RSS"
    )
    # [explain.<method>] tables, read by each method's `Options` (explain/methods.py), which
    # checks them when the method is resolved: this section sits below the method registry.
    per_method: dict[str, dict] = option(
        default_factory=dict, check=_tables, help="[explain.<method>] tables: each method's own options"
    )

    def method_table(self, name: str) -> dict[str, Any]:
        """The options `[explain.<name>]` sets (the method's defaults fill in the rest)."""
        return dict(self.per_method.get(name, {}))


@dataclass(frozen=True)
class AnalyzeConfig(Section):
    SECTION: ClassVar[str] = "analyze"
    k: list[int] = option(
        default_factory=lambda: [5, 10], rule=at_least(1), non_empty=True, help="k of the top-k agreements"
    )
    bootstrap: int = option(500, rule=at_least(1), help="Bootstrap replicates", cli=True, commands=("analyze",))
    target_reliability: float = option(
        0.9, rule=between(0, 1, open_lo=True, open_hi=True), help="Reliability the seeds-needed estimate aims at"
    )
    equivalent: int | None = option(
        None, rule=at_least(2), help="Restrict to the n most equivalent seeds", cli=True, commands=("analyze",)
    )
    accuracy_margin: float = option(
        0.01,
        rule=between(0, 1, open_lo=True, open_hi=True),
        help="Accuracy equivalence (TOST of best vs worst seed) margin, in accuracy (0.01 = 1 point)",
    )
    power: float = option(
        0.8,
        rule=between(0, 1, open_lo=True, open_hi=True),
        help="Power for the minimum detectable difference and the texts needed",
    )
    groups: bool = option(True, help="Sensitivity by class and part of speech (analysis/<method>/groups.json; spaCy)")


@dataclass(frozen=True)
class FeaturesConfig(Section):
    SECTION: ClassVar[str] = "features"
    n_process: int = option(1, rule=at_least(1), help="spaCy processes", cli=True, commands=("features",))
    batch_size: int = option(64, rule=at_least(1), help="spaCy batch size")
    bootstrap: int = option(200, rule=at_least(0), help="Bootstrap refits for the coefficient intervals")
    spacy_model: str = option("fr_core_news_sm", help="spaCy pipeline")
    C: float = option(1.0, rule=positive(), help="Inverse L2 strength of the logistic regression")
    polarity_threshold: float = option(
        0.1, rule=between(0, 1), help="|polarity| a textblob-fr word needs to count as positive/negative"
    )
    subjectivity_threshold: float = option(
        0.5, rule=between(0, 1), help="Subjectivity a textblob-fr word needs to count as subjective"
    )
    word_lists: dict[str, str] = option(default_factory=dict, help="Feature name -> word list file (one word per line)")
    plugins: list[str] = option(default_factory=list, help="Modules defining stablex_features(feature_set, config)")
    explain_split: str = option(
        "test", rule=one_of(*SPLITS), help="Split the word map covers (same as the transformer's explanations)"
    )
    target: str = option("predicted", help="predicted, label or a class name: relevance is toward this class")
    resample_draws: int = option(
        10, rule=at_least(2), help="Bootstrap draws of the training split for the stability comparison"
    )
    k: int = option(10, rule=at_least(1), help="Top-k words for feature agreement in the stability comparison")


@dataclass(frozen=True)
class HybridConfig(Section):
    SECTION: ClassVar[str] = "hybrid"
    method: str = option("lrp", help="Explanations the lexicons come from")
    # Fixed settings, used when cv_folds = 0 (otherwise the grids below are searched).
    top_words: int = option(50, rule=at_least(1), help="Words per class lexicon (cv_folds = 0)")
    min_freq: int = option(
        5, rule=at_least(1), help="Documents (explained training texts) a word must occur in (cv_folds = 0)"
    )
    min_sign_consistency: float = option(
        0.8, rule=between(0, 1), help="Share of seeds agreeing on the sign (cv_folds = 0)"
    )
    individual_words: int = option(
        0, rule=at_least(0), help="N of the 'words' variant (0: that variant is skipped; cv_folds = 0)"
    )
    bootstrap: int = option(1000, rule=at_least(0), help="Paired bootstrap replicates (over texts) of each difference")
    single_seed: bool = option(True, help="Also build one lexicon per seed (does the consensus help?)")
    variants: list[str] = option(
        default_factory=lambda: ["counts", "weighted", "words"],
        rule=one_of(*VARIANTS),
        non_empty=True,
        help="Variants (features/selection.py), their settings chosen by stratified k-fold cross-validation",
    )
    cv_folds: int = option(
        5, rule=Rule(lambda v: v == 0 or v >= 2, "0 (fixed settings) or >= 2"), help="Cross-validation folds"
    )
    top_words_grid: list[int] = option(
        default_factory=lambda: [10, 25, 50, 100], rule=at_least(1), help="Grid of top_words"
    )
    min_freq_grid: list[int] = option(default_factory=lambda: [2, 5, 10], rule=at_least(1), help="Grid of min_freq")
    sign_consistency_grid: list[float] = option(
        default_factory=lambda: [0.6, 0.8, 1.0], rule=between(0, 1), help="Grid of min_sign_consistency"
    )
    n_words_grid: list[int] = option(
        default_factory=lambda: [5, 10, 25, 50], rule=at_least(1), help="Grid of individual_words"
    )
    pool_size: int = option(
        5000, rule=at_least(0), help="Held-out pool (features/pool.py): corpus texts outside split.parquet, at most"
    )
    pool_seed: int = option(0, rule=SEED, help="Seed of the held-out pool")


SECTIONS: dict[str, type[Section]] = {
    "corpus": CorpusConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "explain": ExplainConfig,
    "analyze": AnalyzeConfig,
    "features": FeaturesConfig,
    "hybrid": HybridConfig,
}


@dataclass(frozen=True)
class StudyConfig:
    name: str = "study"
    preset: str | None = None
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    hybrid: HybridConfig = field(default_factory=HybridConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise StablexError(f"name = {self.name!r}: must be a non-empty string")

    # --- the one override path ---------------------------------------------------------
    def replace(self, section: str | None = None, **values: Any) -> "StudyConfig":
        """A checked copy with `[section]`'s `values` replaced (section None: `name`/`preset`).

        [explain]'s method tables merge option by option: `replace("explain", ig={"steps": 8})`;
        the flat names of old study files (`ig_steps`, ...) are read into them. Setting
        `[train] groups` without `seeds` makes the seeds the groups' union."""
        if section is None:
            return dataclasses.replace(self, **values)
        if section not in SECTIONS:
            raise StablexError(f"unknown section [{section}]; the sections are {', '.join(SECTIONS)}")
        current = getattr(self, section)
        values = dict(values)
        if section == "explain":
            values = _method_tables(current, values)
        if section == "train" and values.get("groups") and "seeds" not in values:
            values["seeds"] = design_seeds({**dataclasses.asdict(current), **values}, "[train] groups")
        return dataclasses.replace(self, **{section: current.replace(**values)})

    def with_sections(self, sections: dict[str, dict[str, Any]], source: str | None = None) -> "StudyConfig":
        """`replace` table by table (what a study file, a preset or the API's overrides give)."""
        cfg = self
        for section, values in sections.items():
            if section not in SECTIONS:
                raise StablexError(f"unknown section(s) {section}; the sections are {', '.join(sorted(SECTIONS))}")
            if not isinstance(values, dict):
                raise StablexError(f"{source + ': ' if source else ''}[{section}] must be a table")
            try:
                cfg = cfg.replace(section, **values)
            except StablexError as e:
                raise StablexError(f"{source}: {e}" if source else str(e)) from None
        return cfg

    def with_overrides(self, assignments: list[str], source: str = "--set") -> "StudyConfig":
        """`section.option=value` assignments (the CLI's `--set`), the value read as TOML
        (a bare word is a string); `explain.ig.steps=8` sets a method's option."""
        return self.with_sections(parse_assignments(assignments), source)

    # --- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        explain = d["explain"]
        for method, table in explain.pop("per_method").items():
            explain[method] = dict(table)  # [explain.<method>]
        return d

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "StudyConfig":
        data = dict(data)
        cfg = cls()
        preset = data.pop("preset", None)
        if preset:
            cfg = apply_preset(cfg, preset)
        if "name" in data:
            try:
                cfg = cfg.replace(name=data.pop("name"))
            except StablexError as e:
                raise StablexError(f"{source}: {e}") from None
        sections = {k: data.pop(k) for k in list(data) if k in SECTIONS}
        if data:
            raise StablexError(f"{source}: unknown key(s) {sorted(data)}")
        train = sections.get("train")
        if isinstance(train, dict) and train.get("groups"):
            train = sections["train"] = {k: v for k, v in train.items() if k != "seeds"}  # their union
        return cfg.with_sections(sections, source)

    @classmethod
    def from_toml(cls, path: str | Path, preset: str | None = None) -> "StudyConfig":
        """Read a study file; `preset` (e.g. from the command line) replaces the file's own."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise StablexError(f"study file not found: {path}") from None
        except IsADirectoryError:
            raise StablexError(f"{path}: is a directory, not a study file (give its .toml)") from None
        except UnicodeDecodeError:
            raise StablexError(f"{path}: not a text file (a study file is TOML)") from None
        except OSError as e:
            raise StablexError(f"{path}: cannot be read ({e.strerror})") from None
        except tomllib.TOMLDecodeError as e:
            raise StablexError(f"{path}: not valid TOML: {e}") from None
        if preset:
            data["preset"] = preset
        cfg = cls.from_dict(data, source=str(path))
        # Corpus paths in a study file are relative to the file.
        corpus = Path(cfg.corpus.path)
        if not corpus.is_absolute() and not corpus.exists():
            candidate = (path.parent / corpus).resolve()
            if candidate.exists():
                cfg = cfg.replace("corpus", path=str(candidate))
        return cfg

    def training_identity(self) -> dict[str, Any]:
        """What a trained seed depends on: a run refuses to mix seeds trained otherwise."""
        d = self.to_dict()
        train = dict(d["train"])
        for volatile in ("seeds", "threads", "device", "eval_batch_size", "keep_freed_memory"):
            train.pop(volatile)
        # A design's identity is its groups' names and varied sources: seeds may be added to a group.
        # Per-seed pins enter as a mark only when given (one-pin designs keep their hash; a seed's
        # own pin is checked against its recorded sources, train.sweep.check_plans).
        train["groups"] = [
            {"name": g.get("name"), "vary": g.get("vary"), **({"pins": "per seed"} if "pins" in g else {})}
            for g in train.get("groups", [])
        ]
        if train.get("predict_precision") == "float32" or train.get("precision") == "float32":
            train.pop("predict_precision", None)  # float32 predictions: the runs made before the option
        if not train["groups"]:
            del train["groups"], train["pin_seed"]  # runs made before designs existed keep their hash
        model = dict(d["model"])
        model.pop("keep_models")
        corpus = dict(d["corpus"])
        if corpus.get("other_labels") == "refuse":
            del corpus["other_labels"]  # the default: runs made before the option keep their hash
        if corpus.get("dedup") is False:
            del corpus["dedup"]  # likewise: a split without dedup is the split made before the option
        if corpus.get("split_column") is None:
            corpus.pop("split_column", None)  # likewise
        return {"corpus": corpus, "model": model, "train": train}


def _method_tables(current: ExplainConfig, values: dict[str, Any]) -> dict[str, Any]:
    """[explain] values with method tables (and the flat names of old files) merged into
    `per_method`, option by option."""
    names = {f.name for f in fields(current)}
    tables = {k: dict(v) for k, v in current.per_method.items()}
    if "per_method" in values:
        tables = {k: dict(v) if isinstance(v, dict) else v for k, v in values.pop("per_method").items()}
    legacy = []
    for key in list(values):
        if key in LEGACY_METHOD_OPTIONS:
            method, opt = LEGACY_METHOD_OPTIONS[key]
            legacy.append(f"{key} as [explain.{method}] {opt}")
            tables.setdefault(method, {})[opt] = values.pop(key)
        elif key not in names and isinstance(values[key], dict):  # [explain.<method>]
            tables[key] = {**tables.get(key, {}), **values.pop(key)}
    if legacy:
        warnings.warn(
            f"[explain] flat names of method options are deprecated: read {', '.join(legacy)}",
            DeprecationWarning,
            stacklevel=4,
        )
    return {**values, "per_method": tables}


def parse_assignments(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """['train.lr=1e-4', 'explain.ig.steps=8'] -> {'train': {'lr': 1e-4}, 'explain': {'ig': {'steps': 8}}}."""
    out: dict[str, dict[str, Any]] = {}
    for a in assignments:
        key, sep, text = a.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) not in (2, 3) or not all(parts):
            raise StablexError(f"--set {a!r}: give section.option=value (e.g. train.lr=1e-4, explain.ig.steps=8)")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a string
        table = out.setdefault(parts[0], {})
        if len(parts) == 3:
            table = table.setdefault(parts[1], {})
        table[parts[-1]] = value
    return out


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # CPU preset: short texts, top half of the encoder fine-tuned, lower half cached.
    "quick": {
        "corpus": {"max_docs": 1000, "balance": True, "max_tokens": 128},
        "model": {"trim_vocab": True, "freeze_layers": "half", "freeze_embeddings": True},
        "train": {"batch_size": 16, "lr": 1e-4, "epochs": 2, "seeds": [0, 1, 2, 3, 4], "precision": "auto"},
    },
    # The published study's settings (camembert-base, 200 seeds, GPUs).
    "paper": {
        "corpus": {"balance": True, "max_tokens": 512, "preprocess": True},
        "model": {"name": "camembert-base", "trim_vocab": False, "save_dtype": "float16"},
        "train": {"batch_size": 4, "lr": 2e-5, "epochs": 2, "seeds": list(range(200))},
        # the authors' chefer: rollout from layer 1, sub-word relevances averaged into words
        "explain": {"chefer": {"start_layer": 1}, "aggregate": "mean"},
    },
}


def apply_preset(cfg: StudyConfig, name: str) -> StudyConfig:
    """A copy of `cfg` with preset `name`'s values."""
    if name not in PRESETS:
        raise StablexError(f"preset = {name!r}: unknown preset; choose one of {', '.join(sorted(PRESETS))}")
    return cfg.replace(preset=name).with_sections(PRESETS[name], f"preset {name}")


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d
