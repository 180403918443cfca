"""The options' rules as a table, derived from their declarations (kept for callers).

Every option declares its rule beside its default (`stablex.options.option`, in `config.py`
and in each method's `Options`); a section checks itself when it is made. `RULES` and
`NON_EMPTY` are views of those declarations, not a second place to declare anything.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from stablex.config import AGGREGATIONS, PRECISIONS, SAVE_DTYPES, SECTIONS, SPLITS, VARIANTS  # noqa: F401
from stablex.options import SEED, Rule, at_least, between, check_section, declaration, one_of, positive  # noqa: F401

RULES: dict[tuple[str, str], Rule] = {
    (section, f.name): declaration(f)["rule"]
    for section, cls in SECTIONS.items()
    for f in dataclasses.fields(cast(Any, cls))
    if declaration(f)["rule"] is not None
}
NON_EMPTY = {
    (section, f.name)
    for section, cls in SECTIONS.items()
    for f in dataclasses.fields(cast(Any, cls))
    if f.metadata.get("non_empty")
}
