"""Atomic artefact writes: a reader (or a killed writer) never sees a half-written file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from stablex import ledger
from stablex.errors import StablexError
from stablex.ledger import mode, sha256_file  # noqa: F401  (sha256_file: one hash, here and in the ledger)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.
    The artefact gets the permissions of the process umask (mkstemp's 0600 would hide a shared
    run from colleagues) and, inside a run, its record in the run ledger (`stablex.ledger`)."""
    path = Path(path)
    _writable(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode())
        os.replace(tmp_path, path)
        ledger.record(path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like `atomic_path` for a directory: built aside, swapped in by rename (every file recorded)."""
    path = Path(path)
    _writable(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for p in tmp.rglob("*"):  # what libraries wrote there (safetensors writes 0600) gets the umask's
            os.chmod(p, mode("dir" if p.is_dir() else "file"))
        os.chmod(tmp, mode("dir"))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        ledger.record(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _writable(folder: Path) -> None:
    """Make `folder` (with the umask's permissions) or refuse, in one line, a folder this process
    cannot write (a read-only run directory), before any temporary file is made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StablexError(f"{folder}: cannot create the folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StablexError(
            f"{folder}: not writable by this user; stablex writes its results there "
            "(use a copy of the run, or ask its owner)"
        )


def remove(path: str | os.PathLike) -> None:
    """Delete an artefact (a file or a folder) and its records in the run ledger."""
    ledger.remove(Path(path))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON record, checked against the run ledger first; a damaged one is one clear line."""
    path = ledger.checked(Path(path))
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise StablexError(_damaged(path, f"not valid JSON: {e}")) from None


def read_parquet(path: str | os.PathLike, **options) -> pa.Table:
    """A Parquet table (`options` as for pyarrow.parquet.read_table), checked against the run
    ledger first; a truncated or otherwise unreadable file is one clear line."""
    path = ledger.checked(Path(path))
    try:
        return pq.read_table(path, **options)
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise StablexError(_damaged(path, f"not a readable Parquet file: {str(e).splitlines()[0]}")) from None


def _damaged(path: Path, why: str) -> str:
    run = ledger.run_root(path)
    if run is None:
        return f"{path}: {why}"
    rel = path.absolute().relative_to(run.absolute()).as_posix()
    return (
        f"{path}: damaged ({why}); rebuild it with `{ledger.rebuild_command(run, rel)}` "
        f"or `stablex run {run / 'study.toml'} --out {run}`"
    )


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | os.PathLike, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_json_default).encode()).hexdigest()
