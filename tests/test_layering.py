"""The import graph of src/stablex (parsed with ast, every import including those inside
functions): no module imports a room above it, no cycle between modules, no private name
imported from another room, and no module shadowed by a package attribute
(docs/architecture.md, "Import order")."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Rooms from the bottom up: a module may import its own room or one listed before it.
ROOMS = [
    "errors",
    "runtime",
    "progress",
    "tables",
    "ledger",
    "io",
    "records",
    "options",
    "designs",
    "config",
    "config_checks",
    "data",
    "rundir",
    "models",
    "train",
    "stats",
    "explain",
    "features",
    "report",
    "stages",
    "pipeline",
    "api",
    "config_doc",
    "cli_options",
    "cli",
    "",  # stablex/__init__.py
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "stablex").rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every stablex import in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "stablex"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "stablex":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.append((sub, "", node.lineno) if sub in MODULES else (node.module, a.name, node.lineno))
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_room_is_in_the_order():
    assert {_room(m) for m in MODULES} == set(ROOMS)


def test_no_module_imports_a_room_above_it():
    up = [
        f"{MODULES[m].relative_to(SRC)}:{line} imports {target} ({_room(target)!r} is above {_room(m)!r})"
        for m in MODULES
        for target, _, line in _imports(MODULES[m])
        if ROOMS.index(_room(target)) > ROOMS.index(_room(m))
    ]
    assert up == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (a depth-first search), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_module_graph_has_no_cycle():
    # a package's __init__ re-exporting its own modules is not an edge of the graph: the modules
    # below it never import the package itself
    graph = {
        m: {
            t
            for t, _, _ in _imports(p)
            if t in MODULES and t != m and not (p.name == "__init__.py" and t.startswith(m))
        }
        for m, p in MODULES.items()
    }
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_private_name_is_imported_from_another_room():
    """A room's modules may share a private helper; another room reaches only its public names."""
    private = [
        f"{MODULES[m].relative_to(SRC)}:{line} imports {target}.{name}"
        for m in MODULES
        for target, name, line in _imports(MODULES[m])
        if name.startswith("_") and _room(target) != _room(m)
    ]
    assert private == []


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_a_package_attribute_never_shadows_its_submodule(module):
    """e.g. `stablex.explain.faithfulness` is the module, not the function re-exported over it."""
    pkg = importlib.import_module(module)
    for sub in (m for m in MODULES if m.rpartition(".")[0] == module):
        importlib.import_module(sub)
        name = sub.rpartition(".")[2]
        assert getattr(pkg, name).__name__ == sub, f"{module}.{name} is not the module {sub}"
    assert type(pkg).__name__ == "module"  # no __class__ reassigned to make a package callable


STAGE_ENTRIES = {
    "stablex.train.executors": {"train_distributed"},
    "stablex.explain.distributed": {"explain_distributed"},
    "stablex.explain.faithfulness": {"faithfulness", "missing_methods"},
    "stablex.features.extract": {"extract_features"},
    "stablex.features.model": {"fit_feature_model"},
    "stablex.features.stability": {"compare_stability"},
    "stablex.features.pos": {"sensitivity_groups"},
    "stablex.features.hybrid": {"run_hybrid"},
    "stablex.stats.analyze": {"analyze"},
    "stablex.report": {"build_report"},
}


def test_only_the_stage_objects_call_the_stages():
    """api.py, pipeline.py and cli.py reach a stage through stablex.stages (one object per stage),
    so how a stage runs is written once."""
    calls = [
        f"{MODULES[m].relative_to(SRC)}:{line} imports {target}.{name}"
        for m in ("stablex.api", "stablex.pipeline", "stablex.cli")
        for target, name, line in _imports(MODULES[m])
        if name in STAGE_ENTRIES.get(target, ())
    ]
    assert calls == []
    from stablex import pipeline, stages

    assert pipeline.STAGES == tuple(s.name for s in stages.STAGES) == tuple(stages.BY_NAME)
    entries = {f"{t}.{n}" for t, n, _ in _imports(MODULES["stablex.stages"])}
    assert {f"{t}.{n}" for t, names in STAGE_ENTRIES.items() for n in names} <= entries
