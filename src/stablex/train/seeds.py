"""One training seed, several independent random sources, and designs that vary some of them.

The study's open question is which random element moves the explanations. A seed is
therefore expanded into one seed per source; a study may pin any source to a constant so
that only the others vary between seeds.

A *source design* (`[train] groups`) holds several such studies in one run: each group of
seeds varies the sources it names and pins the others to the values derived from
`[train] pin_seed`, the same pinned values for every group. So a pair of seeds from the
"init" group differs in the head initialisation only, a pair from "order" in the data order
only, and a pair across the two in both: stats/sources.py classifies every pair by the
sources that differ, whatever group its seeds came from.

One pin makes every ratio conditional on that reference. A group may instead name one pin
per seed (`pins = [0, 1, 2]`, as long as `seeds`): seed i's pinned sources take the values
derived from pins[i]. With the pins themselves in the "all" group (each is then the model of
its own reference), every one-source seed pairs with its own pin's model, the pairs of
different pins are independent draws of the reference, and the model-level interval
(stats/sources.py) spans the choice of reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stablex.designs import GROUP_KEYS, SOURCE_NAMES, SOURCES, design_seeds  # noqa: F401 (re-exported)
from stablex.designs import varied as _varied
from stablex.errors import StablexError


@dataclass(frozen=True)
class SeedPlan:
    seed: int
    init_seed: int  # classifier-head initialisation
    order_seed: int  # order of the training examples
    dropout_seed: int  # dropout masks
    data_seed: int  # bootstrap draw of the training split (used only when bootstrapping)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def derive_seeds(seed: int, pinned: dict[str, int | None] | None = None) -> SeedPlan:
    """Expand `seed` into independent per-source seeds (NumPy SeedSequence spawning)."""
    children = np.random.SeedSequence(seed).spawn(len(SOURCES))
    values = {name: int(child.generate_state(1, dtype=np.uint32)[0]) for name, child in zip(SOURCES, children)}
    for name, value in (pinned or {}).items():
        if value is not None:
            values[name] = int(value)
    return SeedPlan(seed=seed, **values)


def bootstrap_indices(n: int, data_seed: int) -> np.ndarray:
    """Rows of the training split drawn with replacement for one seed (same draw for any model kind)."""
    return np.random.default_rng(data_seed).integers(0, n, size=n)


def seed_group(train: Any, seed: int) -> dict | None:
    """The group of `train.groups` that holds `seed` (None without a design)."""
    return next((g for g in train.groups if seed in g["seeds"]), None)


def plan_seed(train: Any, seed: int) -> tuple[SeedPlan, str | None]:
    """A seed's per-source seeds under the run's pins or its group's, and the group's name."""
    group = seed_group(train, seed)
    if group is None:
        if train.groups:
            raise StablexError(f"seed {seed} is in no group of [train] groups")
        pinned = {"init_seed": train.init_seed, "order_seed": train.order_seed, "dropout_seed": train.dropout_seed}
        return derive_seeds(seed, pinned), None
    pins = group.get("pins")
    pin = pins[group["seeds"].index(seed)] if pins is not None else train.pin_seed
    reference = derive_seeds(pin).to_dict()
    varied = _varied(group, f"[train] groups {group['name']!r}", train.bootstrap)
    pinned = {s: reference[s] for s in SOURCES if s not in varied}
    return derive_seeds(seed, pinned), group["name"]
