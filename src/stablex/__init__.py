"""stablex: would the explanation be the same if the model had been trained with another seed?

The notebook API mirrors the CLI one to one: `stablex.run(study, out)`, `stablex.train(...)`,
`stablex.models(run)`, `stablex.explain(run, "lrp")`, `stablex.faithfulness(...)`,
`stablex.analyze(run, "lrp")`, `stablex.features(run)`, `stablex.hybrid(run)`,
`stablex.report(run)`, and `stablex.import_models(study, run, checkpoints)` for
models trained elsewhere (`stablex import`). Where a name is also a subpackage (train, models, explain, features,
report) the subpackage itself is callable, so `stablex.train.sweep` and `stablex.train(...)`
both work.
"""

import importlib as _importlib
import types as _types

from stablex import api as _api
from stablex.api import analyze, compare, faithfulness, hybrid, import_models, run
from stablex.config import StudyConfig
from stablex.errors import StablexError


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.__stablex_api__(*args, **kwargs)


for _name in ("train", "models", "explain", "features", "report"):
    _module = _importlib.import_module(f"stablex.{_name}")
    _module.__class__ = _CallableModule
    _module.__stablex_api__ = getattr(_api, _name)

__all__ = [
    "StudyConfig",
    "StablexError",
    "train",
    "models",
    "explain",
    "faithfulness",
    "analyze",
    "compare",
    "features",
    "hybrid",
    "report",
    "run",
    "import_models",
]
__version__ = "0.1.0"
