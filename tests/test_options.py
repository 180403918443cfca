"""One declaration per option: a toy method and a toy option reach the CLI, the reference page
and the run's identity with no other edit; old study files keep their run identity."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from typer.testing import CliRunner

from stablex import cli, config_doc
from stablex.config import SECTIONS, StudyConfig, TrainConfig
from stablex.errors import StablexError
from stablex.explain import methods as registry
from stablex.explain.methods import METHODS, Attribution, _Method, resolve
from stablex.explain.stage import identity
from stablex.io import sha256_json
from stablex.options import Section, at_least, option, positive

ROOT = Path(__file__).resolve().parents[1]
OLD_STUDY = ROOT / "tests" / "data" / "study-before-method-tables.toml"
# What the stablex before [explain.<method>] tables gave for OLD_STUDY (commit 2330eab): the
# manifest's config_hash and each method's options in its explanations' summary.json.
OLD_CONFIG_HASH = "764f7dc58362c5747ae7ca4905e19ae8f9b518b4c6e2a62a21bb6edd4d569b06"
OLD_METHOD_IDENTITY = {
    "lrp": {"softmax_rule": "attnlrp"},
    "chefer": {"softmax_rule": "attnlrp", "start_layer": 0},
    "gxi": {},
    "ig": {"steps": 8},
}


class _Run:
    """What `explain.stage.identity` reads of a run: its manifest."""

    def manifest(self) -> dict:
        return {"config_hash": OLD_CONFIG_HASH}


def _read_old() -> StudyConfig:
    with pytest.warns(
        DeprecationWarning,
        match=r"\[explain\] .*ig_steps as \[explain.ig\] steps, .*ig_batch as \[explain.ig\] internal_batch",
    ):
        return StudyConfig.from_toml(OLD_STUDY)


def test_an_old_study_file_keeps_its_run_identity(tmp_path):
    cfg = _read_old()
    assert sha256_json(cfg.training_identity()) == OLD_CONFIG_HASH
    assert {m: resolve(m, cfg.explain).identity() for m in METHODS} == OLD_METHOD_IDENTITY
    assert resolve("random", cfg.explain).identity() == {}  # faithfulness.json's floor, as before
    assert cfg.explain.per_method == {
        "lrp": {"softmax_rule": "attnlrp"},
        "ig": {"steps": 8, "internal_batch": 64},
        "chefer": {"start_layer": 0, "softmax_rule": "attnlrp"},
    }
    # written back in the new form ([explain.ig] steps = 8), read again: the same identities, no warning
    again = tmp_path / "study.toml"
    again.write_text(cfg.to_toml())
    assert "[explain.ig]" in again.read_text() and "ig_steps" not in again.read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = StudyConfig.from_toml(again)
    assert new == cfg
    assert sha256_json(new.training_identity()) == OLD_CONFIG_HASH
    ident = identity(_Run(), "ig", new.explain, 128)
    assert ident["options"] == {"steps": 8} and ident["run_config_hash"] == OLD_CONFIG_HASH


def test_a_method_option_is_checked_with_its_table_name():
    cfg = StudyConfig().replace("explain", ig={"steps": 0})
    with pytest.raises(StablexError, match=r"^\[explain.ig\] steps = 0: must be >= 1$"):
        resolve("ig", cfg.explain)
    with pytest.raises(
        StablexError, match=r"\[explain.ig\] unknown option\(s\) stpes \(known: internal_batch, steps\)"
    ):
        resolve("ig", StudyConfig().replace("explain", ig={"stpes": 8}).explain)
    with pytest.raises(StablexError, match=r"s.toml: \[explain.chefer\] softmax_rule = 'detach': must be one of"):
        from stablex.api import check_methods

        check_methods(StudyConfig.from_dict({"explain": {"chefer": {"softmax_rule": "detach"}}}), "s.toml")
    # an option of a method's table merges into what the table already holds
    both = StudyConfig().replace("explain", ig={"steps": 4}).replace("explain", ig={"internal_batch": 8})
    assert resolve("ig", both.explain).kwargs() == {"steps": 4, "internal_batch": 8}


def test_sections_are_frozen_and_replace_checks():
    cfg = StudyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0  # type: ignore[misc]
    with pytest.raises(StablexError, match=r"^\[train\] lr = -1: must be > 0$"):
        cfg.replace("train", lr=-1)
    with pytest.raises(StablexError, match=r"\[train\] unknown option\(s\) lrr"):
        cfg.replace("train", lrr=1)
    with pytest.raises(StablexError, match=r"unknown section \[trian\]"):
        cfg.replace("trian", lr=1)
    assert cfg.replace("train", lr=1e-3).train.lr == 1e-3 and cfg.train.lr == 2e-5  # a copy
    # setting a design without seeds makes the seeds its union
    design = cfg.replace("train", groups=[{"name": "a", "vary": ["init"], "seeds": [3, 1]}])
    assert design.train.seeds == [1, 3]
    with pytest.raises(StablexError, match=r"seeds \[0\] are in no group"):
        design.replace("train", seeds=[0, 1])


def test_set_assignments_reach_any_option():
    cfg = StudyConfig().with_overrides(["train.lr=1e-4", "explain.ig.steps=8", "model.name=camembert-base"])
    assert cfg.train.lr == 1e-4 and cfg.model.name == "camembert-base"
    assert resolve("ig", cfg.explain).identity() == {"steps": 8}
    with pytest.raises(StablexError, match=r"--set: \[train\] epochs = 0: must be >= 1"):
        StudyConfig().with_overrides(["train.epochs=0"])
    with pytest.raises(StablexError, match=r"--set 'lr': give section.option=value"):
        StudyConfig().with_overrides(["lr"])


def test_run_and_stage_commands_take_set(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\n')
    runner = CliRunner()
    res = runner.invoke(cli.app, ["run", str(study), "--set", "train.lr=-1", "--out", str(tmp_path / "r")])
    assert isinstance(res.exception, StablexError)
    assert str(res.exception) == "--set: [train] lr = -1: must be > 0"
    assert not (tmp_path / "r").exists()
    res = runner.invoke(cli.app, ["explain", str(tmp_path / "r"), "--set", "train.lr=1"])
    assert isinstance(res.exception, StablexError) and "reads only [explain] options" in str(res.exception)


def test_library_errors_name_the_option_not_a_flag():
    with pytest.raises(StablexError, match=r"^\[train\] seeds = '0-x': cannot be read"):
        from stablex.config import parse_seeds

        parse_seeds("0-x")
    with pytest.raises(StablexError, match=r"^\[model\] name = 'no/such': not found offline"):
        from stablex.models.resolve import resolve_model

        resolve_model("no/such")


def test_no_setattr_on_config_objects():
    """Configs change through `replace` only: no `setattr` on a config anywhere in the package."""
    hits = [
        f"{p.relative_to(ROOT)}: {line.strip()}"
        for p in sorted((ROOT / "src" / "stablex").rglob("*.py"))
        for line in p.read_text().splitlines()
        if re.search(r"setattr(__)?\(", line)
    ]
    # Run's own path, made a Path in __post_init__
    assert hits == ['src/stablex/rundir.py: object.__setattr__(self, "path", Path(self.path))'], hits


# -- a toy method and a toy option: one class, one field, found everywhere ------------------------


class Toy(_Method):
    """A toy method: relevance = level x the token's id parity (its one option reaches everything)."""

    name = "toy"

    @dataclasses.dataclass(frozen=True)
    class Options(Section):
        SECTION: ClassVar[str] = "explain.toy"
        level: float = option(
            1.0, rule=positive(), help="How loud the toy method is", cli="--toy-level", commands=("explain",)
        )
        chunk: int = option(8, rule=at_least(1), volatile=True, help="Toy batching")

    def __init__(self, model, level: float = Options.level, chunk: int = Options.chunk):
        self.level = level

    def attribute(self, batch, target=None) -> Attribution:
        rel = self.level * (batch.input_ids % 2).float()
        return Attribution(rel, torch.zeros(len(rel), 2), torch.zeros(len(rel), dtype=torch.long))


METHODS.pop("toy")  # defining the class registered it; each test below registers it again


@dataclasses.dataclass(frozen=True)
class ToyTrain(TrainConfig):
    toy_rate: float = option(0.5, rule=positive(), help="A toy training option", cli=True, commands=("train",))


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(registry.METHODS, "toy", Toy)
    monkeypatch.setitem(SECTIONS, "train", ToyTrain)
    return cli.build_app()


def test_a_toy_method_and_option_reach_the_cli_the_reference_and_the_identity(toys):
    runner = CliRunner()
    explain_help = runner.invoke(toys, ["explain", "--help"], env={"COLUMNS": "250"}).output
    assert "--toy-level" in explain_help and "How loud the toy method is" in explain_help
    assert "toy" in explain_help.split("--method")[1].split("\n")[0]  # among the --method choices
    train_help = runner.invoke(toys, ["train", "--help"], env={"COLUMNS": "250"}).output
    assert "--toy-rate" in train_help and "A toy training option" in train_help

    page = config_doc.render()
    assert "## `[explain.toy]`" in page and "| `level` | float | `1.0` | > 0 | `--toy-level` (explain) |" in page
    assert "| `toy_rate` | float | `0.5` | > 0 | `--toy-rate` (train) | A toy training option |" in page

    cfg = StudyConfig(train=ToyTrain()).with_sections({"train": {"toy_rate": 2.0}, "explain": {"toy": {"level": 3.0}}})
    assert cfg.train.toy_rate == 2.0
    assert cfg.training_identity()["train"]["toy_rate"] == 2.0  # the run's identity (manifest config_hash)
    ident = identity(_Run(), "toy", cfg.explain, 128)  # the explanations' identity
    assert ident["method"] == "toy" and ident["options"] == {"level": 3.0}  # chunk: volatile
    with pytest.raises(StablexError, match=r"\[explain.toy\] level = 0: must be > 0"):
        resolve("toy", cfg.replace("explain", toy={"level": 0}).explain)
    with pytest.raises(StablexError, match=r"\[train\] toy_rate = -1: must be > 0"):
        cfg.replace("train", toy_rate=-1)


def test_the_reference_page_is_current():
    assert config_doc.main(["--check"]) == 0, "docs/configuration.md is stale: run `python -m stablex.config_doc`"
