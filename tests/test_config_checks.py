"""Every option's declared type and range: one error naming the option, at every door."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stablex.config import PRESETS, StudyConfig
from stablex.config_checks import NON_EMPTY, RULES, check_section
from stablex.errors import StablexError

ROOT = Path(__file__).resolve().parents[1]


def test_every_option_is_declared_with_its_help_and_its_default_passes_its_rule():
    """RULES and NON_EMPTY are views of the declarations (stablex.options.option), not a second list."""
    from stablex.config import SECTIONS
    from stablex.explain.methods import METHODS

    tables = [*SECTIONS.items(), *((f"explain.{m}", c.Options) for m, c in METHODS.items())]
    for section, cls in tables:
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"[{section}] {f.name} has no help"
            rule = f.metadata.get("rule")
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            values = default if isinstance(default, list) else [default]
            assert rule is None or all(v is None or rule.ok(v) for v in values), (section, f.name)
    assert ("train", "seeds") in NON_EMPTY and RULES[("train", "lr")].allowed == "> 0"


@pytest.mark.parametrize("preset", [None, *PRESETS])
def test_defaults_and_presets_pass(preset):
    cfg = StudyConfig.from_dict({"preset": preset} if preset else {})  # sections check themselves when built
    assert cfg.train.seeds and cfg.explain.methods


def test_every_shipped_study_file_passes():
    files = sorted((ROOT / "studies").rglob("*.toml"))
    assert len(files) >= 5
    for f in files:
        StudyConfig.from_toml(f)


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("train", {"seeds": "0-4"}, "[train] seeds = '0-4': must be a list of integers"),
        ("train", {"seeds": [0, 1, 1]}, "[train] seeds = [0, 1, 1]: seeds must be distinct"),
        ("train", {"seeds": [0, -1]}, "[train] seeds = [0, -1]: every element must be in [0, 2147483647] (-1 is not)"),
        ("train", {"seeds": []}, "[train] seeds = []: must not be empty"),
        ("train", {"epochs": "two"}, "[train] epochs = 'two': must be an integer"),
        ("train", {"epochs": "2"}, "[train] epochs = '2': must be an integer"),
        ("train", {"epochs": 0}, "[train] epochs = 0: must be >= 1"),
        ("train", {"epochs": True}, "[train] epochs = True: must be an integer"),
        ("train", {"lr": "fast"}, "[train] lr = 'fast': must be a number"),
        ("train", {"lr": -1}, "[train] lr = -1: must be > 0"),
        ("train", {"batch_size": 0}, "[train] batch_size = 0: must be >= 1"),
        ("train", {"precision": "half"}, "[train] precision = 'half': must be one of float32, bfloat16, auto"),
        ("train", {"warmup_ratio": 1.0}, "[train] warmup_ratio = 1.0: must be in [0, 1)"),
        ("train", {"device": "tpu"}, "[train] device = 'tpu': must be auto, cpu, cuda or cuda:N"),
        ("corpus", {"split": [0.8, "0.1", 0.1]}, "[corpus] split = [0.8, '0.1', 0.1]: must be a list of numbers"),
        ("corpus", {"balance": "yes"}, "[corpus] balance = 'yes': must be true or false"),
        ("corpus", {"other_labels": "keep"}, "[corpus] other_labels = 'keep': must be one of refuse, drop"),
        ("model", {"save_dtype": "int8"}, "[model] save_dtype = 'int8': must be one of float32, float16, bfloat16"),
        ("explain", {"aggregate": "max"}, "[explain] aggregate = 'max': must be one of sum, mean"),
        ("explain", {"texts": 0}, "[explain] texts = 0: must be >= 1"),
        ("analyze", {"k": [10, 0]}, "[analyze] k = [10, 0]: every element must be >= 1 (0 is not)"),
        ("analyze", {"power": 1}, "[analyze] power = 1: must be in (0, 1)"),
        ("features", {"word_lists": ["a.txt"]}, "[features] word_lists = ['a.txt']: must be a table"),
        ("hybrid", {"cv_folds": 1}, "[hybrid] cv_folds = 1: must be 0 (fixed settings) or >= 2"),
        (
            "hybrid",
            {"variants": ["counts", "lexicon"]},
            "[hybrid] variants = ['counts', 'lexicon']: every element must be one of counts, weighted, words "
            "('lexicon' is not)",
        ),
    ],
)
def test_a_bad_value_is_one_error_naming_section_option_value_and_rule(section, values, message):
    with pytest.raises(StablexError) as err:
        StudyConfig.from_dict({section: values}, source="s.toml")
    assert str(err.value) == f"s.toml: {message}"
    # the same value given to the one override path (what the CLI and notebooks do) gives the same words
    with pytest.raises(StablexError) as err2:
        StudyConfig().replace(section, **values)
    assert f"s.toml: {err2.value}" == str(err.value)
    # and a section cannot be changed in place: a config that exists is a checked one
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(getattr(StudyConfig(), section), next(iter(values)), next(iter(values.values())))


def test_none_is_allowed_only_where_declared():
    check_section(StudyConfig().train, "train")  # threads = None, init_seed = None
    with pytest.raises(StablexError, match=r"\[train\] epochs = None: must be an integer"):
        StudyConfig().replace("train", epochs=None)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--lr", "-1", "[train] lr = -1.0: must be > 0"),
        ("--batch-size", "0", "[train] batch_size = 0: must be >= 1"),
        ("--epochs", "0", "[train] epochs = 0: must be >= 1"),
        ("--max-tokens", "100000", "[corpus] max_tokens = 100000: must be <= 512, the positions of e5-small"),
    ],
)
def test_cli_refuses_before_writing_anything(tmp_path, lemonde_path, option, value, message):
    out = tmp_path / "run"
    env = {**os.environ, "COLUMNS": "300"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "stablex.cli",
            "train",
            "--out",
            str(out),
            "--corpus",
            str(lemonde_path),
            "--max-docs",
            "40",
            option,
            value,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "section, option, value, message",
    [
        ("train", "lr", -1.0, "[train] lr = -1.0: must be > 0"),
        ("train", "batch_size", 0, "[train] batch_size = 0: must be >= 1"),
        ("train", "epochs", 0, "[train] epochs = 0: must be >= 1"),
    ],
)
def test_api_gives_the_clis_error_and_leaves_the_callers_config(
    tmp_path, lemonde_path, section, option, value, message
):
    import stablex

    cfg = StudyConfig.from_dict({"corpus": {"path": str(lemonde_path), "max_docs": 40}})
    out = tmp_path / "run"
    with pytest.raises(StablexError) as err:
        stablex.api.train(cfg, out, show_progress=False, **{section: {option: value}})
    assert message in str(err.value)  # the same words as test_cli_refuses_before_writing_anything
    assert not out.exists()
    assert getattr(getattr(cfg, section), option) == getattr(getattr(StudyConfig(), section), option)
    with pytest.raises(StablexError, match="unknown section"):
        stablex.api.train(cfg, out, show_progress=False, trian={"epochs": 2})


def _violating(rule):
    """A value outside `rule`, derived from its wording (so every declared rule gets a case)."""
    text = rule.allowed
    if text.startswith(">= "):  # ">= 0", or '>= 0, or "half" (...)' for freeze_layers
        return int(float(text[3:].split(",")[0])) - 1
    if text == "in [0, 2147483647]":  # seeds: Parquet's int32 `seed` column
        return 2**31
    if text == "> 0":
        return 0
    if text.startswith("in "):
        return 2 if text.endswith("]") else 1
    return {"0 (fixed settings) or >= 2": 1}.get(text, "nope")


@pytest.mark.parametrize("section, option", sorted(RULES))
def test_every_declared_rule_refuses_a_value_outside_it(section, option):
    rule = RULES[(section, option)]
    bad = _violating(rule)
    assert not rule.ok(bad)
    default = getattr(getattr(StudyConfig(), section), option)
    value = [bad] if isinstance(default, list) else bad
    if isinstance(default, float) and isinstance(bad, int):
        value = float(bad)
    with pytest.raises(StablexError) as err:
        StudyConfig.from_dict({section: {option: value}}, source="f.toml")
    assert str(err.value).startswith(f"f.toml: [{section}] {option} = {value!r}: ")
    assert rule.allowed in str(err.value)
