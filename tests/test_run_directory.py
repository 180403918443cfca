"""docs/run-directory.md is the one copy of the run directory's tree: every path `rundir.Run`
knows appears in it, and README holds no second copy."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from stablex.rundir import ANALYSIS_FILES, Run

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDERS = {"method": ["<method>"], "seed": ["<seed>"], "split": ["test", "<split>"]}


def doc_tree(text: str) -> set[str]:
    """The paths of the first ```-block that starts with RUN/: one entry per line, two spaces of
    indent per level (a directory ends in /); lines indented 20 or more continue a description."""
    block = re.search(r"```\nRUN/\n(.*?)```", text, re.S)
    assert block, "docs/run-directory.md: no tree starting with RUN/"
    paths, parents = set(), []
    for line in block.group(1).splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= 20:
            continue
        depth = indent // 2 - 1
        name = line.split()[0]
        parents = parents[:depth]
        path = "".join(parents) + name
        paths.add(path.rstrip("/"))
        if name.endswith("/"):
            parents.append(name)
    return paths


def run_paths() -> set[str]:
    """Every path a `Run` member gives (properties, and methods called with placeholders)."""
    run, out = Run(Path("RUN")), set()
    for name, member in inspect.getmembers(Run):
        if name.startswith("_") or not name.endswith(("_path", "_dir", "_root")):
            continue
        if isinstance(member, property):
            out.add(getattr(run, name))
            continue
        params = [p for p in inspect.signature(member).parameters if p != "self"]
        choices = [ANALYSIS_FILES if p == "artefact" else PLACEHOLDERS[p] for p in params]
        combos = [[]]
        for c in choices:
            combos = [prev + [v] for prev in combos for v in c]
        out |= {getattr(run, name)(*args) for args in combos}
    return {p.relative_to("RUN").as_posix() for p in out}


def test_the_tree_parser_reads_nesting_and_skips_descriptions():
    text = (
        "```\nRUN/\n  a/                 x\n    b.json           y\n                             more y\n  c.txt\n```\n"
    )
    assert doc_tree(text) == {"a", "a/b.json", "c.txt"}


def test_every_path_run_knows_is_in_the_contract():
    tree = doc_tree((REPO / "docs" / "run-directory.md").read_text())
    known = run_paths()
    assert {"seeds/<seed>/metrics.json", "explanations/<method>@<split>/summary.json", "compare"} <= known
    missing = sorted(p for p in known if p not in tree)
    assert missing == []


def test_the_readme_has_no_second_copy_of_the_tree():
    readme = (REPO / "README.md").read_text()
    assert "```\nRUN/" not in readme and "seed-<seed>.parquet" not in readme


def test_transformer_methods_leave_out_the_feature_model_and_other_splits(tmp_path):
    from stablex.report.data import MethodAnalysis, ReportData

    run = Run(tmp_path)
    assert run.transformer_methods() == []
    for folder in ("lrp", "gxi", "features", "lrp@train", "chefer"):
        (tmp_path / "explanations" / folder).mkdir(parents=True)
        if folder != "chefer":  # a folder without seed files explains nothing yet
            (tmp_path / "explanations" / folder / "seed-0.parquet").touch()
    assert run.transformer_methods() == ["gxi", "lrp"]
    assert Run.is_feature_model("features") and not Run.is_feature_model("lrp")
    # the report's primary method: the study's order, not a name
    d = ReportData(tmp_path, {}, "", ["a", "b"], methods=["lrp", "gxi"])
    assert d.primary == "lrp"  # nothing analysed: the first explained in the study's order
    d.methods = ["gxi", "lrp"]
    assert d.primary == "gxi"
    d.analyses = {m: MethodAnalysis(m, {}, {}) for m in ("features", "lrp")}
    assert d.primary == "lrp"  # the analysed one, never the feature model
    d.methods = []
    d.analyses["chefer"] = MethodAnalysis("chefer", {}, {})
    assert d.primary == "chefer"  # no study order: the first analysed by name
