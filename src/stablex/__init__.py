"""stablex: would the explanation be the same if the model had been trained with another seed?

The notebook API mirrors the CLI one to one and lives in `stablex.api`: `api.run(study, out)`,
`api.train(...)`, `api.models(run)`, `api.explain(run, "lrp")`, `api.faithfulness(...)`,
`api.analyze(run, "lrp")`, `api.features(run)`, `api.hybrid(run)`, `api.report(run)`,
`api.compare(a, b)`, `api.verify(run)` and `api.import_models(study, run, checkpoints)`.
The names that are no subpackage are also served here (`stablex.run`, `stablex.analyze`,
`stablex.faithfulness`, `stablex.compare`, `stablex.hybrid`, `stablex.import_models`,
`stablex.verify`); `stablex.train`, `stablex.models`, `stablex.explain`, `stablex.features`
and `stablex.report` are the subpackages of those stages.
"""

from stablex import api
from stablex.api import analyze, compare, faithfulness, hybrid, import_models, run, verify
from stablex.config import StudyConfig
from stablex.errors import StablexError

__all__ = [
    "StudyConfig",
    "StablexError",
    "api",
    "faithfulness",
    "analyze",
    "compare",
    "hybrid",
    "run",
    "import_models",
    "verify",
]
__version__ = "0.1.0"
