"""Typed JSON records: one dataclass per artefact, shared by the stage that writes it and the
stages that read it, with a schema version.

A record written by this stablex carries `"schema": SCHEMA`. Reading checks it first: a record
without the key was written before records had a schema and is read as version 1 (the fields
it has are the ones version 1 had; what version 2 added is filled in by the reader, e.g. the
floor of faithfulness.json from the method registry); a version this stablex does not know,
or a record of the wrong shape, is one error naming the file and the command that rewrites it.

Typed so far: faithfulness.json (`FaithfulnessRecord`; each ranking's entry stays a mapping,
`RankingScores`), seeds/<seed>/metrics.json (`SeedMetrics`), analysis/<method>/summary.json
(`AnalysisSummary`: the header typed, each statistic and section a mapping) and compare/*.json
(`ComparisonRecord`); the others are read as mappings (docs/run-directory.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from stablex.errors import StablexError
from stablex.io import read_json, write_json

SCHEMA = 2  # version 1: records written before this field existed

RankingScores = dict[str, Any]  # one ranking of faithfulness.json: AOPCs, intervals, per_text, per_seed, vs.<other>


def schema_of(record: Any, path: Path | str, rebuild: str) -> int:
    """The schema version of `record` read from `path` (1 without one); a version this stablex
    cannot read is one error naming the file and what to run."""
    if not isinstance(record, dict):
        raise StablexError(f"{path}: not a stablex record (a JSON object expected); rerun `{rebuild}`")
    version = record.get("schema", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA:
        raise StablexError(
            f"{path}: record schema {version!r}, written by another stablex version; this one reads schemas "
            f"1 to {SCHEMA}: rerun `{rebuild}` (or `stablex run`) with this version to rewrite it"
        )
    return version


@dataclass(kw_only=True)
class Record:
    """Base of every typed record: `to_dict` is what the writer stores, `from_dict` what a reader gets."""

    REBUILD: ClassVar[str] = "stablex run"
    schema: int = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "schema": SCHEMA}

    def write(self, path: Path) -> Path:
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, record: dict, path: Path | str = "<record>", **defaults):
        """`defaults`: what a version-1 record lacks (a reader's knowledge, e.g. the floor)."""
        version = schema_of(record, path, cls.REBUILD)
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        unknown = sorted(set(record) - names)
        if unknown and version == SCHEMA:  # a version-1 record may hold keys since dropped
            raise StablexError(
                f"{path}: unknown key(s) {', '.join(unknown)} for schema {SCHEMA}; rerun `{cls.REBUILD}`"
            )
        if version == 1:
            values = {**defaults, **values}
        values["schema"] = version
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        if missing:
            raise StablexError(f"{path}: missing {', '.join(missing)}; rerun `{cls.REBUILD}`")
        problem = cls.shape_problem(values)
        if problem:
            raise StablexError(f"{path}: {problem}; rerun `{cls.REBUILD}`")
        return cls(**values)

    @classmethod
    def shape_problem(cls, values: dict[str, Any]) -> str | None:
        """What is wrong with the values' types (None: nothing); each record checks what its readers rely on."""
        return None

    @classmethod
    def read(cls, path: Path, **defaults):
        """The record at `path` (checked by the ledger when the run has one), or None when absent."""
        if not Path(path).exists():
            return None
        return cls.from_dict(read_json(path), path, **defaults)


@dataclass(kw_only=True)
class FaithfulnessRecord(Record):
    """RUN/explanations/faithfulness.json (explain/faithfulness.py writes it and reads it back to
    resume, the report reads it)."""

    REBUILD: ClassVar[str] = "stablex faithfulness RUN"
    seeds: list[int]
    n_texts: int
    methods: dict[str, RankingScores]
    baselines: list[str] = field(default_factory=list)  # the floors among `methods` (trait is_floor), first: the floor
    seed: int | None = None
    split: str = "test"
    sample_seed: int = 0
    target: str = "predicted"
    aggregate: str | None = None
    fractions: list[float] = field(default_factory=list)
    permutations: int | None = None
    max_tokens: int | None = None
    explained_texts: int | None = None
    doc_ids: list[str] = field(default_factory=list)
    bootstrap: int | None = None
    note: str = ""

    @property
    def floor(self) -> str | None:
        """The ranking every method must beat (the first baseline the record scored)."""
        return next((b for b in self.baselines if b in self.methods), None)

    def explanations(self) -> dict[str, RankingScores]:
        """The scored explanation methods, without the baselines."""
        return {m: v for m, v in self.methods.items() if m not in self.baselines}

    def vs_floor(self, method: str) -> dict:
        """`method`'s paired gains over the floor ({} for the floor itself or when unscored)."""
        entry = self.methods.get(method) or {}
        return (entry.get("vs") or {}).get(self.floor) or {} if self.floor and method != self.floor else {}


SPLIT_SCORES = ("accuracy", "macro_f1", "loss", "n")  # per split: {"train": ..., "validation": ..., "test": ...}
SEED_SOURCES = ("init_seed", "order_seed", "dropout_seed", "data_seed")  # as designs.SOURCES (a room above)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(kw_only=True)
class SeedMetrics(Record):
    """RUN/seeds/<seed>/metrics.json, written last by training (train/sweep.py) or `stablex import`
    (train/importing.py): it marks the seed complete. Read for the per-source seeds (analysis's
    source design, the head's init), the accuracies (report, equivalent seeds) and the timings."""

    REBUILD: ClassVar[str] = "stablex train"
    seed: int
    init_seed: int | None = None  # None: unknown (an imported checkpoint claims no source)
    order_seed: int | None = None
    dropout_seed: int | None = None
    data_seed: int | None = None
    group: str | None = None  # the [train] groups entry the seed belongs to
    bootstrap: bool = False  # trained on a bootstrap draw of the training split (data_seed draws it)
    accuracy: dict[str, float] = field(default_factory=dict)
    macro_f1: dict[str, float] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)  # texts per split
    final_train_loss: float | None = None
    n_steps: int | None = None
    train_seconds: float | None = None
    predict_seconds: float | None = None
    predict_precision: str | None = None
    model_bytes: int | None = None
    threads: int | None = None
    device: str | None = None
    imported: bool = False  # from `stablex import`: then `checkpoint` names what was imported
    checkpoint: str | None = None
    stored_tensors: int | None = None

    @classmethod
    def shape_problem(cls, values: dict[str, Any]) -> str | None:
        if not _is_int(values["seed"]):
            return f"seed = {values['seed']!r}: an integer expected"
        for k in SEED_SOURCES:
            if values.get(k) is not None and not _is_int(values[k]):
                return f"{k} = {values[k]!r}: an integer or null expected"
        for k in SPLIT_SCORES:
            v = values.get(k, {})
            if not isinstance(v, dict) or any(
                not isinstance(x, (int, float)) or isinstance(x, bool) for x in v.values()
            ):
                return f"{k} = {v!r}: a mapping of split to number expected"
        for k in ("bootstrap", "imported"):
            if not isinstance(values.get(k, False), bool):
                return f"{k} = {values[k]!r}: true or false expected"
        return None

    def sources(self) -> dict[str, int | None]:
        """The per-source seeds the seed trained with (None where unknown)."""
        return {k: getattr(self, k) for k in SEED_SOURCES}

    @property
    def test_accuracy(self) -> float | None:
        a = self.accuracy.get("test")
        return None if a is None else float(a)

    @property
    def n_test(self) -> int | None:
        n = self.n.get("test")
        return n if n is not None and n > 0 else None


MetricSummary = dict[str, Any]  # one statistic over texts: n_texts, n_undefined, median, median_ci, mean, mean_ci, …


@dataclass(kw_only=True)
class AnalysisSummary(Record):
    """RUN/analysis/<method>/summary.json (stats/analyze.py writes it; the report, the method
    differences and `stablex compare` read it). The header is typed; each statistic of `metrics`
    and each section (accuracy, reliability, sources, lexicon) stays a mapping."""

    REBUILD: ClassVar[str] = "stablex analyze RUN"
    method: str
    seeds: list[int]
    n_texts: int
    metrics: dict[str, MetricSummary]
    config: dict[str, Any] = field(default_factory=dict)  # the AnalyzeConfig it ran with
    classes: list[str] = field(default_factory=list)
    n_seeds: int | None = None
    n_words: int | None = None
    words_per_text: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    sign_convention: str = ""
    target_agreement_mean: float | None = None
    rng_seed: int | None = None
    equivalent: int | None = None
    accuracy: dict[str, Any] = field(default_factory=dict)
    reliability: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    lexicon: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def shape_problem(cls, values: dict[str, Any]) -> str | None:
        if not isinstance(values["method"], str):
            return f"method = {values['method']!r}: a name expected"
        if not isinstance(values["seeds"], list) or not all(_is_int(s) for s in values["seeds"]):
            return f"seeds = {values['seeds']!r}: a list of integers expected"
        if not _is_int(values["n_texts"]):
            return f"n_texts = {values['n_texts']!r}: an integer expected"
        metrics = values["metrics"]
        if not isinstance(metrics, dict) or not all(isinstance(v, dict) for v in metrics.values()):
            return "metrics: a mapping of statistic to its summary (a mapping) expected"
        for k in ("config", "accuracy", "reliability", "sources", "lexicon", "timings"):
            if not isinstance(values.get(k, {}), dict):
                return f"{k}: a mapping expected"
        return None

    def metric(self, name: str) -> MetricSummary:
        """One statistic's summary ({} when the analysis has none)."""
        return self.metrics.get(name) or {}


@dataclass(kw_only=True)
class ComparisonRecord(Record):
    """RUN_A/compare/<B>-<method>.json (stats/compare.py's `Comparison.record()` writes it; the
    report's sensitivity section reads it). Each figure of `metrics` stays a mapping (label, a,
    b, difference, ci, p_value, conclusion)."""

    REBUILD: ClassVar[str] = "stablex compare RUN_A RUN_B --method METHOD"
    method: str
    run_a: str
    run_b: str
    paired: bool
    n_texts: dict[str, int]  # "a", "b": texts each side rests on
    seeds: dict[str, list[int]]  # "a", "b"
    metrics: dict[str, dict[str, Any]]
    k: int
    bootstrap: int
    permutations: int
    alpha: float = 0.05
    smallest_p: float | None = None  # of the model permutation test (None: no test)
    seeds_needed: int | None = None
    conclusive: bool = False
    plan: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    definition: str = ""

    @classmethod
    def shape_problem(cls, values: dict[str, Any]) -> str | None:
        for k in ("n_texts", "seeds"):
            v = values[k]
            if not isinstance(v, dict) or set(v) != {"a", "b"}:
                return f"{k} = {v!r}: a mapping with keys a and b expected"
        if not all(_is_int(n) for n in values["n_texts"].values()):
            return f"n_texts = {values['n_texts']!r}: integers expected"
        if not all(isinstance(s, list) and all(_is_int(x) for x in s) for s in values["seeds"].values()):
            return f"seeds = {values['seeds']!r}: lists of integers expected"
        metrics = values["metrics"]
        if not isinstance(metrics, dict) or not all(isinstance(m, dict) for m in metrics.values()):
            return "metrics: a mapping of figure to its comparison (a mapping) expected"
        if not isinstance(values.get("notes", []), list):
            return "notes: a list expected"
        return None
