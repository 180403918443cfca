"""Source designs (`[train] groups`): what a group may say, checked when the study is read.

Below `config.py` (which checks a design on construction) and above nothing: `train/seeds.py`
turns a checked design into per-seed random sources.
"""

from __future__ import annotations

from typing import Any

from stablex.errors import StablexError

SOURCES = ("init_seed", "order_seed", "dropout_seed", "data_seed")
# Names a study file uses in `vary`, and the source each stands for.
SOURCE_NAMES = {"init": "init_seed", "order": "order_seed", "dropout": "dropout_seed", "data": "data_seed"}
GROUP_KEYS = {"name", "vary", "seeds", "pins"}


def varied(group: dict, where: str, bootstrap: bool) -> set[str]:
    """The sources a group varies (`vary`), checked."""
    vary = group.get("vary")
    if isinstance(vary, str):
        vary = [vary]
    if not isinstance(vary, list) or not vary or not all(isinstance(v, str) for v in vary):
        raise StablexError(f"{where}: vary must be a non-empty list of {sorted(SOURCE_NAMES)} or ['all']")
    if vary == ["all"]:
        return {s for s in SOURCES if s != "data_seed" or bootstrap}
    unknown = sorted(set(vary) - set(SOURCE_NAMES))
    if unknown:
        raise StablexError(
            f"{where}: unknown source(s) {unknown} in vary (choose from {sorted(SOURCE_NAMES)} or 'all')"
        )
    if "data" in vary and not bootstrap:
        raise StablexError(f"{where}: varies 'data', which needs [train] bootstrap = true (each seed a bootstrap draw)")
    return {SOURCE_NAMES[v] for v in vary}


def design_seeds(train: Any, where: str = "[train] groups") -> list[int]:
    """Validate `train.groups` (an object or a mapping of [train] values) and return the sorted
    union of their seeds."""
    get = train.get if isinstance(train, dict) else lambda k, d=None: getattr(train, k, d)
    if any(get(s) is not None for s in ("init_seed", "order_seed", "dropout_seed")):
        raise StablexError(
            f"{where}: a source design pins sources per group; unset [train] init_seed, order_seed and dropout_seed"
        )
    groups = get("groups") or []
    if not isinstance(groups, list):
        raise StablexError(f"{where}: must be a list of tables with name, vary and seeds")
    owner: dict[int, str] = {}
    names: set[str] = set()
    for i, g in enumerate(groups):
        label = f"{where}[{i}]"
        if not isinstance(g, dict):
            raise StablexError(f"{label}: each group is a table with name, vary and seeds")
        extra = sorted(set(g) - GROUP_KEYS)
        if extra:
            raise StablexError(f"{label}: unknown key(s) {extra} (known: name, pins, seeds, vary)")
        name = g.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise StablexError(f"{label}: name must be a non-empty string, unique among the groups (got {name!r})")
        names.add(name)
        label = f"{where} {name!r}"
        varied(g, label, bool(get("bootstrap", False)))
        seeds = g.get("seeds")
        if (
            not isinstance(seeds, list)
            or len(seeds) < 1
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        ):
            raise StablexError(f"{label}: seeds must be a list of non-negative integers (got {seeds!r})")
        pins = g.get("pins")
        if pins is not None and (
            not isinstance(pins, list)
            or len(pins) != len(seeds)
            or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pins)
        ):
            raise StablexError(
                f"{label}: pins = {pins!r}: must be a list of non-negative integers, one pin per seed "
                f"({len(seeds)} seeds)"
            )
        for s in seeds:
            if s in owner:
                raise StablexError(f"{label}: seed {s} is also in group {owner[s]!r} (a seed belongs to one group)")
            owner[s] = name
    return sorted(owner)
