"""Study configuration: plain dataclasses, one per stage, read from and written to TOML.

A study file has one table per stage (``[corpus]``, ``[model]``, ``[train]``, ``[explain]``,
``[analyze]``, ``[features]``, ``[hybrid]``); every field has a default, so a study file
names only what it changes. ``preset = "quick"`` applies the CPU preset before the file's
own values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from stablex.errors import StablexError


@dataclass
class CorpusConfig:
    path: str = "../shared/data/lemonde-2022/lemonde-2022.csv.gz"
    text: str = "title+summary"  # columns joined with '+', each missing field read as empty
    label: str = "label"
    id: str | None = "id"  # None: the row number is the id
    classes: list[str] | None = None  # class order (index = class id); default sorted labels
    other_labels: str = "refuse"  # rows whose label is not in `classes`: refuse | drop (another task on one corpus)
    max_docs: int | None = None
    balance: bool = False  # undersample to equal class counts (the study used balanced data)
    split_seed: int = 0  # fixed across training seeds
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train/validation/test
    # a column naming each row's split (train/validation/test): the split models trained
    # elsewhere were trained on (`stablex import`); it replaces `split`, `balance` and `max_docs`
    split_column: str | None = None
    preprocess: bool = False  # the study's NFKC + URL / number placeholders
    drop_empty: bool = False
    # duplicates across train/validation/test (data/dedup.py: same normalised text or same title):
    # False refuses such a split; True keeps the first text of each duplicate group before sampling
    dedup: bool = False
    max_tokens: int = 512


@dataclass
class ModelConfig:
    name: str = "e5-small"  # 'e5-small', an HF id (offline cache) or a local path
    trim_vocab: bool = True  # keep only the embedding rows of pieces the corpus uses
    # lower encoder layers frozen (their outputs computed once); "half": half of the encoder's
    # layers, resolved when the encoder's config is read (study.toml then holds the number)
    freeze_layers: int | str = 0
    freeze_embeddings: bool = False
    keep_models: bool = True
    save_dtype: str = "float32"  # dtype of the stored trained weights: float32|float16|bfloat16


@dataclass
class TrainConfig:
    seeds: list[int] = field(default_factory=lambda: list(range(5)))
    lr: float = 2e-5
    eps: float = 1e-8
    weight_decay: float = 0.0
    epochs: int = 2
    batch_size: int = 4
    eval_batch_size: int = 32
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.0
    # Pin a random source to one value for every seed (None: derived from the seed).
    init_seed: int | None = None
    order_seed: int | None = None
    dropout_seed: int | None = None
    # Train each seed on a bootstrap draw of the training split (resampling randomness).
    bootstrap: bool = False
    # A source design (train/seeds.py): groups of seeds, each varying some sources with the
    # others pinned, e.g. [{name = "init", vary = ["init"], seeds = [0, 1]}, ...]. When given,
    # `seeds` is their union and the run-wide pins above must be unset.
    groups: list[dict] = field(default_factory=list)
    pin_seed: int = 0  # a group's pinned sources take the values derived from this seed
    threads: int | None = None  # torch threads; None: all cores
    device: str = "auto"  # auto|cpu|cuda
    keep_freed_memory: bool = (
        True  # glibc malloc reuses freed blocks (runtime.keep_freed_memory): faster, holds peak RSS
    )
    # Training steps in float32, or bfloat16 autocast (weights, optimizer and predictions stay
    # float32); auto: bfloat16 where the device multiplies bfloat16 natively (CPU with AMX or
    # AVX512-BF16, CUDA with bf16), resolved once when the run is created.
    precision: str = "float32"  # float32 | bfloat16 | auto


@dataclass
class ExplainConfig:
    methods: list[str] = field(default_factory=lambda: ["lrp"])
    split: str = "test"
    target: str = "predicted"  # predicted|label|<class name>
    aggregate: str = "sum"  # sub-word -> word: sum (conserves relevance) or mean (the study)
    batch_size: int = 16
    ig_steps: int = 32
    max_docs: int | None = None  # explain only the first N texts of the split (kept for old runs; prefer texts)
    # A fixed subset, stratified by label and drawn with [corpus] split_seed: the same texts for
    # every seed and method (None: the whole split). `texts` applies to the validation/test split,
    # `train_texts` to the training split (what `stablex run` explains for the hybrid).
    texts: int | None = None
    train_texts: int | None = None
    # lrp's rule set by its softmax rule: attnlrp (AttnLRP, Achtibat et al. 2024) | detach
    # (CP-LRP, Ali et al. 2022) | identity (stablex's own); chosen by measurement, docs/explain.md
    softmax_rule: str = "detach"
    chefer_start_layer: int = 0  # first layer of chefer's rollout (0: all; the paper preset: 1, the authors' code)
    chefer_softmax_rule: str = "attnlrp"  # the rules behind chefer's attention relevance (not detach: none reaches A)
    ig_batch: int = 64  # rows (text x step) per ig forward/backward
    batch_tokens: int = 4096  # at most batch_size texts and about this many padded tokens per batch
    randomisation_texts: int = 8  # texts of the cascading-randomisation check (0: skip it)
    faithfulness_texts: int = 100  # texts sampled (from the explained texts) for `stablex faithfulness`
    faithfulness_bootstrap: int = 2000  # bootstrap replicates (over texts and seeds) of the AOPC intervals
    faithfulness_seeds: int = 3  # the first n trained seeds scored for faithfulness (0: every seed)
    faithfulness_permutations: int = 5  # uniform random word rankings per text and seed, averaged (the floor)
    threads: int | None = None  # torch threads; None: torch's default
    keep_freed_memory: bool = (
        True  # glibc malloc reuses freed blocks (runtime.keep_freed_memory): faster, holds peak RSS
    )


@dataclass
class AnalyzeConfig:
    k: list[int] = field(default_factory=lambda: [5, 10])
    bootstrap: int = 500
    target_reliability: float = 0.9
    equivalent: int | None = None  # restrict to the n most equivalent seeds
    # Accuracy equivalence (TOST of best vs worst seed): the margin, in accuracy (0.01 = 1 point),
    # and the power for the minimum detectable difference and the texts needed.
    accuracy_margin: float = 0.01
    power: float = 0.8
    groups: bool = True  # sensitivity by class and part of speech (analysis/<method>/groups.json; spaCy)


@dataclass
class FeaturesConfig:
    n_process: int = 1
    batch_size: int = 64
    bootstrap: int = 200  # bootstrap refits for the coefficient intervals
    spacy_model: str = "fr_core_news_sm"
    C: float = 1.0  # inverse L2 strength of the logistic regression
    polarity_threshold: float = 0.1  # |polarity| a textblob-fr word needs to count as positive/negative
    subjectivity_threshold: float = 0.5  # subjectivity a textblob-fr word needs to count as subjective
    word_lists: dict[str, str] = field(default_factory=dict)  # feature name -> word list file (one per line)
    plugins: list[str] = field(default_factory=list)  # modules defining stablex_features(feature_set, config)
    explain_split: str = "test"  # split the word map covers (same as the transformer's explanations)
    target: str = "predicted"  # predicted|label|<class name>: relevance is toward this class
    resample_draws: int = 10  # bootstrap draws of the training split for the stability comparison
    k: int = 10  # top-k words for feature agreement in the stability comparison


@dataclass
class HybridConfig:
    method: str = "lrp"
    # Fixed settings, used when cv_folds = 0 (otherwise the grids below are searched).
    top_words: int = 50  # words per class lexicon
    min_freq: int = 5  # documents (explained training texts) a word must occur in
    min_sign_consistency: float = 0.8  # share of seeds agreeing on the sign
    individual_words: int = 0  # N of the 'words' variant (0: that variant is skipped)
    bootstrap: int = 1000  # paired bootstrap replicates (over texts) of each difference
    single_seed: bool = True  # also build one lexicon per seed (does the consensus help?)
    # Variants (features/selection.py): counts | weighted | words, their settings chosen by
    # stratified k-fold cross-validation on the training split (lexicons rebuilt per fold).
    variants: list[str] = field(default_factory=lambda: ["counts", "weighted", "words"])
    cv_folds: int = 5
    top_words_grid: list[int] = field(default_factory=lambda: [10, 25, 50, 100])
    min_freq_grid: list[int] = field(default_factory=lambda: [2, 5, 10])
    sign_consistency_grid: list[float] = field(default_factory=lambda: [0.6, 0.8, 1.0])
    n_words_grid: list[int] = field(default_factory=lambda: [5, 10, 25, 50])
    # Held-out pool (features/pool.py): corpus texts outside split.parquet, balanced, at most this many.
    pool_size: int = 5000
    pool_seed: int = 0


@dataclass
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

    # --- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "StudyConfig":
        data = dict(data)
        cfg = cls()
        preset = data.get("preset")
        if preset:
            apply_preset(cfg, preset)
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data.pop(f.name)
            current = getattr(cfg, f.name)
            if dataclasses.is_dataclass(current):
                if not isinstance(value, dict):
                    raise StablexError(f"{source}: [{f.name}] must be a table")
                _update(current, value, f"{source}: [{f.name}]")
            else:
                setattr(cfg, f.name, value)
        if data:
            raise StablexError(f"{source}: unknown key(s) {sorted(data)}")
        if cfg.train.groups:
            from stablex.train.seeds import design_seeds  # validates the design, naming the group at fault

            cfg.train.seeds = design_seeds(cfg.train, f"{source}: [train] groups")
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "study") -> "StudyConfig":
        """Check every option of every section (stablex.config_checks); one error for the first off."""
        from stablex.config_checks import check_section

        if not isinstance(self.name, str) or not self.name:
            raise StablexError(f"{source}: name = {self.name!r}: must be a non-empty string")
        for f in fields(self):
            section = getattr(self, f.name)
            if dataclasses.is_dataclass(section):
                check_section(section, f.name, source)
        return self

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
                cfg.corpus.path = str(candidate)
        return cfg

    def training_identity(self) -> dict[str, Any]:
        """What a trained seed depends on: a run refuses to mix seeds trained otherwise."""
        d = self.to_dict()
        train = dict(d["train"])
        for volatile in ("seeds", "threads", "device", "eval_batch_size", "keep_freed_memory"):
            train.pop(volatile)
        # A design's identity is its groups' names and varied sources: seeds may be added to a group.
        # Per-seed pins enter as a mark only when given (one-pin designs keep their hash; a seed's
        # own pin is checked against its recorded sources, train.sweep._check_plans).
        train["groups"] = [
            {"name": g.get("name"), "vary": g.get("vary"), **({"pins": "per seed"} if "pins" in g else {})}
            for g in train.get("groups", [])
        ]
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
        "explain": {"chefer_start_layer": 1, "aggregate": "mean"},
    },
}


def apply_preset(cfg: StudyConfig, name: str) -> StudyConfig:
    if name not in PRESETS:
        raise StablexError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    cfg.preset = name
    for section, values in PRESETS[name].items():
        _update(getattr(cfg, section), values, f"preset {name}")
    return cfg


def _update(obj: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name for f in fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise StablexError(f"{where}: unknown option {key!r} (known: {', '.join(sorted(names))})")
        setattr(obj, key, value)


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d


def parse_seeds(spec: str) -> list[int]:
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
        raise StablexError(f"--seeds: cannot read {spec!r} (use 0-4 or 0,3,7)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise StablexError(f"--seeds: {spec!r} must list distinct non-negative seeds")
    if max(seeds) > 2**31 - 1:
        raise StablexError(f"--seeds: {max(seeds)} is too large (seeds are at most {2**31 - 1})")
    return seeds
