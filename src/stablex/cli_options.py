"""The command line's option flags, generated from the options' declarations (a small Typer adapter).

An option declared with `cli=` and `commands=` (stablex.options.option) becomes a flag of
those commands, with its help and its type from the same field; `--set section.option=value`
reaches every other option. What the flags and `--set` give is handed to the command as
`overrides` (section -> values), for `StudyConfig.replace`: the CLI never sets a value itself.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Optional

import typer
from rich.markup import escape

from stablex.options import declaration


@dataclass(frozen=True)
class Flag:
    """One generated flag: where its value goes (`section`, and `table` for a method's option)."""

    section: str
    table: str | None
    name: str
    flag: str
    help: str
    kind: Any  # the Python type Typer reads the text as
    parse: Callable[[str], Any] | None

    @property
    def param(self) -> str:
        return "_opt_" + "__".join(p for p in (self.section, self.table, self.name) if p)

    @property
    def is_switch(self) -> bool:
        return self.kind is bool

    @property
    def where(self) -> str:
        return f"[{self.section}{'.' + self.table if self.table else ''}] {self.name}"


def _kind(hint: Any) -> Any:
    """The type Typer parses a flag's text as (str when the declaration parses it itself)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else str
    return hint if hint in (int, float, str, bool) else str


def _flags_of(cls: type, section: str, table: str | None, command: str) -> list[Flag]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = declaration(f)
        if not meta["cli"] or command not in meta["commands"]:
            continue
        parse = meta.get("parse")
        kind = str if parse else _kind(hints[f.name])
        if kind is str and parse is None and typing.get_origin(hints[f.name]) is list:
            parse = _toml_value
        where = f"[{section}{'.' + table if table else ''}] {f.name}"
        rule = f": {meta['rule'].allowed}" if meta["rule"] is not None else ""
        text = escape(f"{meta['help']} ({where}{rule})")  # '[corpus]' is text, not rich markup
        out.append(Flag(section, table, f.name, meta["cli"], text, kind, parse))
    return out


def flags(command: str) -> list[Flag]:
    """Every declared flag of `command`: the study's sections, then each method's options."""
    from stablex.config import SECTIONS
    from stablex.explain.methods import METHODS

    out = [fl for section, cls in SECTIONS.items() for fl in _flags_of(cls, section, None, command)]
    for name, method in METHODS.items():
        out += _flags_of(method.Options, "explain", name, command)
    return out


def _toml_value(text: str) -> Any:
    from stablex.config import parse_assignments

    return parse_assignments([f"x.v={text}"])["x"]["v"]


def with_options(func: Callable, command: str, sets: tuple[str, ...] | None) -> Callable:
    """`func` with the declared flags of `command` and `--set` (limited to `sets`' sections;
    None: every section) added to its signature; it receives them as `overrides`."""
    generated = flags(command)
    sig = inspect.signature(func, eval_str=True)  # func's own annotations, as objects
    params = [p for p in sig.parameters.values() if p.name != "overrides"]
    for fl in generated:
        annotation = Annotated[Optional[fl.kind], typer.Option(fl.flag, help=fl.help, show_default=False)]
        params.append(inspect.Parameter(fl.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    scope = "any section" if sets is None else " or ".join(f"[{s}]" for s in sets)
    set_help = escape(
        f"section.option=value for an option of {scope} without a flag of its own "
        "(repeat it; a method's option: explain.ig.steps=8); docs/configuration.md lists them"
    )
    params.append(
        inspect.Parameter(
            "_set",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Optional[list[str]], typer.Option("--set", help=set_help, metavar="SECTION.OPTION=V")],
        )
    )

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        from stablex.config import parse_assignments
        from stablex.errors import StablexError

        overrides: dict[str, dict[str, Any]] = {}
        for fl in generated:
            value = kwargs.pop(fl.param, None)
            if value is None or (value is False and "/" not in fl.flag):  # not given
                continue
            if fl.parse is not None:
                try:
                    value = fl.parse(value)
                except StablexError as e:  # the flag the user typed, then the option it sets
                    raise StablexError(f"{fl.flag}: {e}") from None
            table = overrides.setdefault(fl.section, {})
            if fl.table:
                table = table.setdefault(fl.table, {})
            table[fl.name] = value
        assignments = kwargs.pop("_set", None) or []
        for section, values in parse_assignments(assignments).items():
            if sets is not None and section not in sets:
                raise StablexError(
                    f"--set {section}.…: `stablex {command}` reads only {scope} options "
                    f"([{section}] is read by another command)"
                )
            for key, value in values.items():
                target = overrides.setdefault(section, {})
                if isinstance(value, dict) and isinstance(target.get(key), dict):
                    target[key] = {**target[key], **value}
                else:
                    target[key] = value
        return func(**kwargs, overrides=overrides)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer reads the signature above, not func's
    return wrapper
