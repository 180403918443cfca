"""The run ledger: what every artefact of RUN/ should be, so that no stage trusts a file it did not check.

Each artefact written through `stablex.io` inside a run directory gets a record
`RUN/.ledger/<path>.json` (path, size, sha256, when, the stage that wrote it and the sha256 of
the artefacts that stage read), written atomically right after the artefact's own rename.
A killed writer therefore leaves at worst an artefact whose record disagrees with it, which
`check` names as damaged and `repair` removes so that the stage that makes it redoes it.

A directory is a run with a ledger when it holds `.ledger/` (made by `rundir.prepare_run`);
runs made before the ledger have none and are read as before (`verify` says so).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from stablex.errors import StablexError

LEDGER = ".ledger"
# Inputs that make a record stale are the data a stage read (tables, weights). JSON and TOML
# records are checked too but carry timings and counts that a rebuild changes (a seed's
# train_seconds, the manifest's explained counts); whether they still agree is what
# `Run.holds` and the manifest's config_hash decide.
NOT_INPUT_SUFFIXES = (".json", ".toml")


class DamagedArtefact(StablexError):
    """An artefact the ledger records is missing or differs from its record."""


@dataclass(frozen=True)
class Problem:
    """One finding of `verify`: kind is missing | damaged | stale | foreign."""

    path: str  # relative to RUN/
    kind: str
    detail: str = ""

    def line(self, run: Path) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        if self.kind == "foreign":
            return f"{run / self.path}: foreign{detail}; remove it"
        verb = "recompute" if self.kind == "stale" else "rebuild"
        return (
            f"{run / self.path}: {self.kind}{detail}; {verb} it with `{rebuild_command(run, self.path)}` "
            f"or `stablex run {run / 'study.toml'} --out {run}`"
        )


@dataclass
class _Stage:
    """What the stage running in this process read (relative path -> sha256): the inputs its records name."""

    name: str
    inputs: dict[str, str] = field(default_factory=dict)


_current: contextvars.ContextVar[_Stage | None] = contextvars.ContextVar("stablex_stage", default=None)


@contextmanager
def stage(name: str) -> Iterator[_Stage]:
    """Within the block, every artefact written records `name` and the inputs `check` saw."""
    now = _Stage(name)
    token = _current.set(now)
    try:
        yield now
    finally:
        _current.reset(token)


# -- where things are
def run_root(path: Path) -> Path | None:
    """The run directory holding `path` (the nearest parent with a ledger), else None."""
    for parent in Path(path).absolute().parents:
        if (parent / LEDGER).is_dir():
            return parent
    return None


def record_path(run: Path, rel: str) -> Path:
    return Path(run) / LEDGER / f"{rel}.json"


def _rel(run: Path, path: Path) -> str:
    return Path(path).absolute().relative_to(Path(run).absolute()).as_posix()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_hashes: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256: a file read twice is hashed once


def cached_sha256(path: Path) -> str:
    """sha256 of a file, hashed once per process while its size, mtime and inode stay the same."""
    return _sha(Path(path))


def _sha(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _hashes:
        _hashes[key] = sha256_file(path)
    return _hashes[key]


def mode(kind: str = "file") -> int:
    """The permissions the process umask gives a new file (0644 under 022) or directory (0755)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if kind == "dir" else 0o666) & ~mask


# -- writing records
def record(path: Path) -> None:
    """Record the artefact at `path` (a file, or every file of a directory) in its run's ledger;
    nothing when `path` lies outside a run with a ledger."""
    path = Path(path)
    run = run_root(path)
    if run is None or any(part.endswith(".tmp") for part in path.absolute().relative_to(run).parts[:-1]):
        return  # outside a run, or inside a directory still being built (`atomic_dir` records it whole)
    if path.is_dir():
        forget(path)  # files of an older version of the directory
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            _record_file(run, f)
    else:
        _record_file(run, path)


def _record_file(run: Path, path: Path) -> None:
    st = _current.get()
    inputs = {k: v for k, v in (st.inputs.items() if st else ()) if not k.endswith(NOT_INPUT_SUFFIXES)}
    rel = _rel(run, path)
    rec = {
        "path": rel,
        "size": path.stat().st_size,
        "sha256": _sha(path),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "stage": st.name if st else None,
        "inputs": inputs,
    }
    _write_record(record_path(run, rel), rec)


def _write_record(target: Path, rec: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(rec, f, indent=1)
        os.chmod(tmp, mode())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def forget(path: Path) -> None:
    """Drop the records of `path` (a file or a directory) from its run's ledger."""
    run = run_root(path)
    if run is None:
        return
    rel = _rel(run, path)
    if rel in ("", "."):
        return
    record_path(run, rel).unlink(missing_ok=True)
    shutil.rmtree(Path(run) / LEDGER / rel, ignore_errors=True)


def remove(path: Path) -> None:
    """Delete an artefact (file or directory) and its records."""
    path = Path(path)
    forget(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- reading records
def records(run: Path, under: str = "") -> dict[str, dict]:
    """Every record of the run (relative path -> record), optionally under a folder or file."""
    root = Path(run) / LEDGER
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out
    for p in root.rglob("*.json"):
        rel = p.relative_to(root).as_posix()[: -len(".json")]
        if under and not (rel == under or rel.startswith(under.rstrip("/") + "/")):
            continue
        try:
            out[rel] = json.loads(p.read_text())
        except (OSError, ValueError):
            out[rel] = {"path": rel, "size": -1, "sha256": "unreadable record"}
    return out


def has_ledger(run: Path) -> bool:
    return (Path(run) / LEDGER).is_dir()


def _state(run: Path, rel: str, rec: dict) -> Problem | None:
    f = Path(run) / rel
    if not f.is_file():
        return Problem(rel, "missing", "the run ledger records it")
    if f.stat().st_size != rec.get("size"):
        return Problem(rel, "damaged", f"{f.stat().st_size} bytes, the ledger records {rec.get('size')}")
    if _sha(f) != rec.get("sha256"):
        return Problem(rel, "damaged", "its sha256 differs from the run ledger's")
    return None


def check(run: Path, *under: str, inputs: bool = True) -> None:
    """Refuse (one line naming the file and the command that rebuilds it) when an artefact the
    ledger records under these folders/files is missing or damaged; with `inputs`, the stage
    running in this process records the checked files as the inputs of what it writes."""
    run = Path(run)
    st = _current.get() if inputs else None
    for prefix in under:
        for rel, rec in sorted(records(run, prefix).items()):
            problem = _state(run, rel, rec)
            if problem is not None:
                raise DamagedArtefact(problem.line(run))
            if st is not None:
                st.inputs[rel] = rec["sha256"]


def checked(path: Path) -> Path:
    """`path`, after checking it against its run's ledger (when it has a record)."""
    run = run_root(path)
    if run is not None:
        rel = _rel(run, path)
        rec = records(run, rel).get(rel)
        if rec is not None:
            check(run, rel, inputs=False)
    return Path(path)


# -- what each artefact's loss costs, and who makes it
FEATURE_MODEL = "features"  # explanations/features/: the feature model's word maps (rundir.FEATURE_MODEL)


def rebuild_command(run: Path, rel: str) -> str:
    """The stage command that makes the artefact at `rel`."""
    parts = rel.split("/")
    if parts[0] in ("seeds", "base") or rel in ("split.parquet", "manifest.json", "study.toml"):
        return f"stablex train --config {run / 'study.toml'} --out {run}"
    if parts[0] == "explanations":
        if re.match(r"faithfulness(@.+)?\.json$", parts[1]):
            return f"stablex faithfulness {run}"
        if parts[1] == FEATURE_MODEL:
            return f"stablex features {run}"
        method, _, split = parts[1].partition("@")
        return f"stablex explain {run} --method {method}" + (f" --split {split}" if split else "")
    if parts[0] == "features":
        return f"stablex features {run}"
    if parts[0] == "analysis":
        return f"stablex analyze {run} --method {parts[1]}"
    if parts[0] == "hybrid":
        return f"stablex hybrid {run}"
    if parts[0] == "compare":
        return f"stablex compare {run} RUN_B"
    return f"stablex report {run}"


def _casualties(rel: str) -> list[str]:
    """What to delete with a lost artefact so that the stage making it redoes it: the file and
    the record its stage reads as "done" (a seed's directory, an analysis, the hybrid's metrics)."""
    parts = rel.split("/")
    if parts[0] == "seeds" and len(parts) > 2:
        return ["/".join(parts[:2])]
    if parts[0] == "analysis" and len(parts) > 2:
        return ["/".join(parts[:2])]
    if parts[0] == "hybrid":
        return [rel, "hybrid/metrics.json"]
    if rel.startswith("explanations/features/") or rel == "features/model.json":
        return [rel, "explanations/features/summary.json", "features/model.json"]
    return [rel]


def repair(run: Path, *under: str) -> list[str]:
    """Delete every missing or damaged artefact under these folders (and what marks its stage
    done), so that the stage that makes it rebuilds it; returns the paths it found lost."""
    run = Path(run)
    lost = [
        rel
        for rel, rec in sorted(records(run, "").items())
        if any(rel == u or rel.startswith(u.rstrip("/") + "/") or not u for u in under)
        and _state(run, rel, rec) is not None
    ]
    for rel in lost:
        for gone in _casualties(rel):
            remove(run / gone)
    return lost


def verify(run: Path) -> list[Problem]:
    """Every artefact against its record (missing, damaged), every record against the
    current sha256 of its inputs (stale), every file without a record (foreign)."""
    run = Path(run)
    recs = records(run)
    problems: list[Problem] = []
    for rel, rec in sorted(recs.items()):
        p = _state(run, rel, rec)
        if p is not None:
            problems.append(p)
            continue
        changed = [k for k, sha in (rec.get("inputs") or {}).items() if recs.get(k, {}).get("sha256") != sha]
        if changed:
            problems.append(Problem(rel, "stale", "made from an older " + ", ".join(sorted(changed))))
    for f in sorted(run.rglob("*")):
        rel = f.relative_to(run).as_posix()
        if rel.split("/")[0] == LEDGER or not f.is_file() or rel in recs:
            continue
        why = "left by a killed writer" if f.name.endswith(".tmp") else "no ledger record: not written by stablex"
        problems.append(Problem(rel, "foreign", why))
    return problems
