"""One declaration per option: a dataclass field carrying its rule, help and command-line flag.

Every option of a study (a section of `config.py`) and of an explanation method (its
`Options` class in `explain/methods.py`) is a field made by `option(...)`: the default and
the type (its annotation), the rule its value must pass, one line of help, and where it is
on the command line. Sections are frozen and check themselves on construction
(`Section.__post_init__`), so a config object that exists is a valid one; `replace` is the
only way to change one, and it checks again. The CLI (`cli_options.py`), the reference page
(`config_doc.py`) and the error messages all read these declarations; nothing repeats them.

This module sits below `config.py` and imports nothing of stablex but its errors.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, cast

from stablex.errors import StablexError

_MISSING = dataclasses.MISSING


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


SEED = Rule(lambda v: 0 <= v <= 2**31 - 1, "in [0, 2147483647]")  # what Parquet's int32 `seed` column holds


def option(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | Any = _MISSING,
    rule: Rule | None = None,
    help: str = "",
    cli: str | bool | None = None,
    commands: tuple[str, ...] = (),
    parse: Callable[[str], Any] | None = None,
    non_empty: bool = False,
    distinct: bool = False,
    volatile: bool = False,
    check: Callable[[Any, Any], str | None] | None = None,
) -> Any:
    """A dataclass field with its declaration in `metadata`:

    - `rule`: what each value (each element of a list) must be; `non_empty`, `distinct` for lists;
    - `check(value, section)`: a rule that needs the other fields (returns what is wrong, or None);
    - `help`: one line, for `--help` and docs/configuration.md;
    - `cli`: its flag on `commands` (True: `--<name>` with '_' as '-'; "--a/--no-a" for a switch);
      `parse` reads the flag's text (default: by the annotation);
    - `volatile`: changes speed, not results (a method's identity leaves it out)."""
    meta = {
        "rule": rule,
        "help": help,
        "cli": "--{name}" if cli is True else cli,
        "commands": tuple(commands),
        "parse": parse,
        "non_empty": non_empty,
        "distinct": distinct,
        "volatile": volatile,
        "check": check,
    }
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def declaration(f: dataclasses.Field) -> dict[str, Any]:
    """The metadata `option` gave field `f` (empty values for a plain field)."""
    meta = dict(f.metadata)
    meta.setdefault("rule", None)
    meta.setdefault("help", "")
    meta.setdefault("cli", None)
    meta.setdefault("commands", ())
    if meta["cli"]:
        meta["cli"] = meta["cli"].replace("{name}", f.name.replace("_", "-"))
    return meta


def default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not _MISSING else f.default


class Section:
    """Base of a frozen options dataclass: checks itself when made (a bad value is one error
    `[<section>] <option> = <value>: must be <what is allowed>`)."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_section(self, self.SECTION)

    def replace(self, **values: Any) -> "Section":
        """A checked copy with `values` replaced; an unknown name is one error listing the known ones."""
        names = {f.name for f in dataclasses.fields(cast(Any, self))}
        unknown = sorted(set(values) - names)
        if unknown:
            raise StablexError(
                f"[{self.SECTION}] unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})"
            )
        return dataclasses.replace(cast(Any, self), **values)


def check_section(obj: Any, section: str, source: str | None = None) -> None:
    """Raise one StablexError for the first option of `obj` (an options dataclass) that is off."""
    hints = typing.get_type_hints(type(obj))
    prefix = f"{source}: " if source else ""
    for f in dataclasses.fields(obj):
        if f.name.startswith("_"):
            continue
        value = getattr(obj, f.name)
        meta = declaration(f)
        where = f"{prefix}[{section}] {f.name} = {value!r}"
        kind = _type_error(value, hints[f.name])
        if kind:
            raise StablexError(f"{where}: must be {kind}")
        rule = meta["rule"]
        if isinstance(value, list):
            if meta.get("non_empty") and not value:
                raise StablexError(f"{where}: must not be empty")
            if meta.get("distinct") and len(set(value)) != len(value):
                raise StablexError(f"{where}: {f.name} must be distinct")
            bad = [v for v in value if rule and not rule.ok(v)]
            if bad:
                raise StablexError(f"{where}: every element must be {rule.allowed} ({bad[0]!r} is not)")
        elif value is not None and rule and not rule.ok(value):
            raise StablexError(f"{where}: must be {rule.allowed}")
        if meta.get("check"):
            problem = meta["check"](value, obj)
            if problem:
                raise StablexError(f"{where}: {problem}")


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
    if origin is dict or hint is dict:
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


def type_text(hint: Any) -> str:
    """The annotation in words, for the reference page (`int`, `list of str`, `int or none`)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else type_text(a) for a in args)
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict or hint is dict:
        return "table"
    return getattr(hint, "__name__", str(hint))
