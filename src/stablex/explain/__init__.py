"""Explanations of the trained seeds: methods behind one interface, words, storage, checks.

from stablex.explain import explain, get_method
from stablex.explain.faithfulness import faithfulness   # the module is not shadowed by its function
"""

from stablex.explain.faithfulness import FaithfulnessResult
from stablex.explain.methods import METHODS, Attribution, Attributor, get_method
from stablex.explain.stage import ExplainResult, explain

__all__ = [
    "METHODS",
    "Attribution",
    "Attributor",
    "ExplainResult",
    "FaithfulnessResult",
    "explain",
    "get_method",
]
