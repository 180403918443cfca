"""Every option's type and allowed values, declared once and checked at every door.

A study is checked when it is read (`StudyConfig.from_dict`), when a run directory is
prepared (after command-line overrides) and when the API overrides a section, so that a
bad value is one error naming the section, the option, the value and what is allowed,
before anything is written. Types come from the dataclass annotations; the constraints
below add ranges and choices. Values that depend on the run (a class name as target, the
encoder's positions, a method's registry) are checked where that is known.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from stablex.errors import StablexError


@dataclass(frozen=True)
class Rule:
    """A predicate on one value (a list's elements when the option is a list) and its wording."""

    ok: Callable[[Any], bool]
    allowed: str


def at_least(lo: float) -> Rule:
    return Rule(lambda v: v >= lo, f">= {lo:g}")


def positive() -> Rule:
    return Rule(lambda v: v > 0, "> 0")


def between(lo: float, hi: float, open_lo: bool = False, open_hi: bool = False) -> Rule:
    def ok(v):
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)

    return Rule(ok, f"in {'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}")


def one_of(*choices: str) -> Rule:
    return Rule(lambda v: v in choices, "one of " + ", ".join(choices))


# Choices other modules test against: declared here, imported there.
SPLITS = ("train", "validation", "test")
AGGREGATIONS = ("sum", "mean")  # sub-word -> word relevance
VARIANTS = ("counts", "weighted", "words")  # the hybrid's (features/selection.py)
PRECISIONS = ("float32", "bfloat16", "auto")
PREDICT_PRECISIONS = ("train", "float32")
SAVE_DTYPES = ("float32", "float16", "bfloat16")
SEED = Rule(lambda v: 0 <= v <= 2**31 - 1, "in [0, 2147483647]")  # what Parquet's int32 `seed` column holds

# (section, option) -> rule on the value, or on each element of a list.
RULES: dict[tuple[str, str], Rule] = {
    ("corpus", "other_labels"): one_of("refuse", "drop"),
    ("corpus", "max_docs"): at_least(1),
    ("corpus", "split_seed"): SEED,
    ("corpus", "split"): at_least(0),
    ("corpus", "max_tokens"): at_least(3),  # two special tokens and one word
    ("model", "freeze_layers"): Rule(
        lambda v: v == "half" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        '>= 0, or "half" (of the encoder\'s layers)',
    ),
    ("model", "save_dtype"): one_of(*SAVE_DTYPES),
    ("train", "seeds"): SEED,
    ("train", "lr"): positive(),
    ("train", "eps"): positive(),
    ("train", "weight_decay"): at_least(0),
    ("train", "epochs"): at_least(1),
    ("train", "batch_size"): at_least(1),
    ("train", "eval_batch_size"): at_least(1),
    ("train", "max_grad_norm"): positive(),
    ("train", "warmup_ratio"): between(0, 1, open_hi=True),
    ("train", "init_seed"): SEED,
    ("train", "order_seed"): SEED,
    ("train", "dropout_seed"): SEED,
    ("train", "pin_seed"): SEED,
    ("train", "threads"): at_least(1),
    ("train", "device"): Rule(
        lambda v: v in ("auto", "cpu", "cuda") or v.startswith("cuda:"), "auto, cpu, cuda or cuda:N"
    ),
    ("train", "precision"): one_of(*PRECISIONS),
    ("train", "predict_precision"): one_of(*PREDICT_PRECISIONS),
    ("explain", "split"): one_of(*SPLITS),
    ("explain", "aggregate"): one_of(*AGGREGATIONS),
    ("explain", "batch_size"): at_least(1),
    ("explain", "ig_steps"): at_least(1),
    ("explain", "max_docs"): at_least(1),
    ("explain", "texts"): at_least(1),
    ("explain", "train_texts"): at_least(1),
    ("explain", "chefer_start_layer"): at_least(0),
    ("explain", "ig_batch"): at_least(1),
    ("explain", "batch_tokens"): at_least(1),
    ("explain", "randomisation_texts"): at_least(0),
    ("explain", "faithfulness_texts"): at_least(1),
    ("explain", "faithfulness_bootstrap"): at_least(0),
    ("explain", "faithfulness_seeds"): at_least(0),
    ("explain", "faithfulness_permutations"): at_least(1),
    ("explain", "threads"): at_least(1),
    ("analyze", "k"): at_least(1),
    ("analyze", "bootstrap"): at_least(1),
    ("analyze", "target_reliability"): between(0, 1, open_lo=True, open_hi=True),
    ("analyze", "equivalent"): at_least(2),
    ("analyze", "accuracy_margin"): between(0, 1, open_lo=True, open_hi=True),
    ("analyze", "power"): between(0, 1, open_lo=True, open_hi=True),
    ("features", "n_process"): at_least(1),
    ("features", "batch_size"): at_least(1),
    ("features", "bootstrap"): at_least(0),
    ("features", "C"): positive(),
    ("features", "polarity_threshold"): between(0, 1),
    ("features", "subjectivity_threshold"): between(0, 1),
    ("features", "explain_split"): one_of(*SPLITS),
    ("features", "resample_draws"): at_least(2),
    ("features", "k"): at_least(1),
    ("hybrid", "top_words"): at_least(1),
    ("hybrid", "min_freq"): at_least(1),
    ("hybrid", "min_sign_consistency"): between(0, 1),
    ("hybrid", "individual_words"): at_least(0),
    ("hybrid", "bootstrap"): at_least(0),
    ("hybrid", "variants"): one_of(*VARIANTS),
    ("hybrid", "cv_folds"): Rule(lambda v: v == 0 or v >= 2, "0 (fixed settings) or >= 2"),
    ("hybrid", "top_words_grid"): at_least(1),
    ("hybrid", "min_freq_grid"): at_least(1),
    ("hybrid", "sign_consistency_grid"): between(0, 1),
    ("hybrid", "n_words_grid"): at_least(1),
    ("hybrid", "pool_size"): at_least(0),
    ("hybrid", "pool_seed"): SEED,
}
# Options whose list must not be empty.
NON_EMPTY = {("train", "seeds"), ("explain", "methods"), ("analyze", "k"), ("hybrid", "variants")}


def check_section(obj: Any, section: str, source: str = "study") -> None:
    """Raise one StablexError for the first option of `obj` (a config dataclass) that is off."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{source}: [{section}] {f.name} = {value!r}"
        kind = _type_error(value, hints[f.name])
        if kind:
            raise StablexError(f"{where}: must be {kind}")
        rule = RULES.get((section, f.name))
        if isinstance(value, list):
            if (section, f.name) in NON_EMPTY and not value:
                raise StablexError(f"{where}: must not be empty")
            if (section, f.name) == ("train", "seeds") and len(set(value)) != len(value):
                raise StablexError(f"{where}: seeds must be distinct")
            bad = [v for v in value if rule and not rule.ok(v)]
            if bad:
                raise StablexError(f"{where}: every element must be {rule.allowed} ({bad[0]!r} is not)")
        elif value is not None and rule and not rule.ok(value):
            raise StablexError(f"{where}: must be {rule.allowed}")


def _type_error(value: Any, hint: Any) -> str | None:
    """What `value` should have been for annotation `hint`, or None when it fits."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _type_error(value, inner[0]) if len(inner) == 1 else None
    if origin is list:
        if not isinstance(value, list):
            return f"a list of {_name(args[0]) if args else 'values'}"
        for v in value:
            if args and _type_error(v, args[0]):
                return f"a list of {_name(args[0])}"
        return None
    if origin is dict:
        if not isinstance(value, dict) or (args and not all(isinstance(k, str) for k in value)):
            return "a table"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    return None


def _name(hint: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(
        hint, "tables" if typing.get_origin(hint) is dict or hint is dict else str(hint)
    )
