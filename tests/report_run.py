"""A hand-built run directory for the report tests: no model, written to the run-directory
contract (random relevances, then the real analyze stage), with hostile strings in it."""

from __future__ import annotations

from pathlib import Path

HOSTILE = "<script>alert(1)</script> & <img src=x onerror=alert(2)> </p>"
CLASSES = ["news", "opinion"]


def _words(text: str) -> list[tuple[int, int]]:
    """Whitespace-delimited words with their code-point offsets."""
    import re

    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def build_handmade_run(
    out: str | Path, texts: list[str], seeds: tuple[int, ...] = (0, 1, 2), analyse: bool = True
) -> Path:
    """A run with split, seed metrics and lrp explanations (random relevances, fixed RNG) for `texts`
    (all test texts), analysed by the real analyze stage: enough for the report, no model needed."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stablex.config import AnalyzeConfig
    from stablex.explain.stage import SCHEMA as EXPLANATION_SCHEMA
    from stablex.stats.analyze import analyze

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(
        json.dumps({"classes": CLASSES, "config_hash": "0" * 64, "versions": {"stablex": "test"}})
    )
    (out / "study.toml").write_text('name = "hand-made <run>"\n')
    ids = [f"d{i}" for i in range(len(texts))]
    labels = [CLASSES[i % 2] for i in range(len(texts))]
    pq.write_table(
        pa.table(
            {
                "doc_id": ids,
                "split": ["test"] * len(texts),
                "label": labels,
                "label_id": pa.array([i % 2 for i in range(len(texts))], pa.int8()),
                "text": texts,
            }
        ),
        out / "split.parquet",
    )
    rng = np.random.default_rng(0)
    schema = EXPLANATION_SCHEMA  # what the explain stage writes
    for s in seeds:
        rows: dict[str, list] = {k: [] for k in schema.names}
        for d, text in zip(ids, texts):
            pred = CLASSES[int(rng.integers(2))]
            for i, (a, b) in enumerate(_words(text)):
                for k, v in (
                    ("seed", s),
                    ("doc_id", d),
                    ("word_index", i),
                    ("word", text[a:b]),
                    ("start", a),
                    ("end", b),
                    ("relevance", float(rng.normal())),
                    ("target", pred),
                    ("pred", pred),
                    ("logit", 1.0),
                ):
                    rows[k].append(v)
        folder = out / "explanations" / "lrp"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows, schema=schema), folder / f"seed-{s}.parquet")
        (out / "seeds" / str(s)).mkdir(parents=True, exist_ok=True)
        (out / "seeds" / str(s) / "metrics.json").write_text(
            json.dumps({"seed": s, "accuracy": {"test": 0.8 + 0.01 * s}, "n": {"test": len(texts)}})
        )
    if analyse:
        analyze(out, "lrp", AnalyzeConfig(bootstrap=20))
    return out
