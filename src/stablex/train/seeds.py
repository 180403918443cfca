"""One training seed, several independent random sources.

The study's open question is which random element moves the explanations. A seed is
therefore expanded into one seed per source; a study may pin any source to a constant so
that only the others vary between seeds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SOURCES = ("init_seed", "order_seed", "dropout_seed", "data_seed")


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
