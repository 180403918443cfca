"""Read what a run directory holds for the report; say which command makes what is missing.

Every loader returns None (or an empty mapping) when its artefact is absent, so a run with
only some stages done still gets a page. Nothing here renders HTML.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from stablex.config import AnalyzeConfig
from stablex.errors import StablexError
from stablex.explain.methods import BASELINES
from stablex.records import AnalysisSummary, FaithfulnessRecord
from stablex.rundir import FEATURE_MODEL, Run
from stablex.stats.accuracy import reading as accuracy_reading
from stablex.stats.accuracy import seed_accuracy
from stablex.stats.equivalence import equivalence
from stablex.stats.load import read_seed_metrics, test_accuracy, test_correctness, toward

# What produces each artefact (shown in place of a missing section).
COMMANDS = {
    "train": "stablex train --config STUDY.toml --out RUN",
    "explain": "stablex explain RUN --method lrp",
    "analyze": "stablex analyze RUN --method lrp",
    "faithfulness": "stablex faithfulness RUN --method lrp",
    "features": "stablex features RUN",
    "hybrid": "stablex hybrid RUN --method lrp (after stablex explain RUN --method lrp --split train)",
}
MAX_TEXTS = 50  # texts in the viewer (keeps the file small)
MAX_SEEDS = 6  # seeds side by side in the viewer


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and isinstance(x, (int, float)) and math.isfinite(x) else None


@dataclass
class MethodAnalysis:
    """One explanation method analysed across seeds (RUN/analysis/<method>/)."""

    method: str
    summary: dict  # the record's mapping, what the sections read
    per_text: dict[str, list]  # column -> values (one per text)
    record: AnalysisSummary | None = None  # summary.json as read (schema and header checked)


@dataclass
class ReportData:
    run_dir: Path
    manifest: dict
    study_toml: str
    classes: list[str]
    accuracy: dict | None = None  # by_seed, n_test, seeds (SeedAccuracy), equivalence (the study's), reading
    analyses: dict[str, MethodAnalysis] = field(default_factory=dict)
    explained: dict[str, dict] = field(default_factory=dict)  # method -> explanations/<method>/summary.json
    faithfulness: FaithfulnessRecord | None = None  # explanations/faithfulness.json
    stability_differences: dict | None = None  # analysis/stability_differences.json (stats.method_diff)
    feature_model: dict | None = None
    stability: dict | None = None
    hybrid: dict | None = None
    hybrid_lexicon: list[dict] = field(default_factory=list)
    viewer: dict | None = None
    methods: list[str] = field(default_factory=list)  # the study's [explain] methods, in its order

    @property
    def imported(self) -> dict | None:
        """The manifest's `imported` block: the seeds came from `stablex import` (random sources unknown)."""
        return self.manifest.get("imported")

    @property
    def reference(self) -> str | None:
        """The class positive relevance points to (2 classes: the second one, as in analyze)."""
        return self.classes[1] if len(self.classes) == 2 else None

    @property
    def primary(self) -> str | None:
        """The method the verdict and the viewer use: the first of the study's [explain] methods
        that was analysed (else the first analysed, else the first explained)."""
        analysed = [m for m in self.analyses if not Run.is_feature_model(m)]
        for names in (analysed, [] if analysed else Run(self.run_dir).transformer_methods()):
            if names:
                return next((m for m in self.methods if m in names), sorted(names)[0])
        return None


def load(run_dir: Path) -> ReportData:
    run = Run(run_dir)
    run_dir = run.path
    manifest = run.manifest()
    toml_path = run.study_path
    data = ReportData(
        run_dir, manifest, toml_path.read_text() if toml_path.exists() else "", list(manifest.get("classes", []))
    )
    data.accuracy = load_accuracy(run_dir)
    try:
        data.methods = list(run.config().explain.methods)
    except (StablexError, OSError):  # a study.toml another version wrote: no order, names sorted
        data.methods = []
    for d in sorted(run.explanations_root.glob("*/summary.json")):
        data.explained[d.parent.name] = read_json(d) or {}
    for d in sorted(run.analysis_root.glob("*/summary.json")):
        per_text = run.analysis_path(d.parent.name, "per_text.parquet")
        cols = _per_text_columns(per_text)
        record = AnalysisSummary.from_dict(read_json(d), d)
        data.analyses[d.parent.name] = MethodAnalysis(d.parent.name, record.to_dict(), cols, record)
    data.faithfulness = FaithfulnessRecord.read(run.faithfulness_path(), baselines=list(BASELINES))
    data.stability_differences = read_json(run.stability_differences_path)
    data.feature_model = read_json(run.feature_model_path)
    data.stability = read_json(run.stability_path)
    data.hybrid = read_json(run.hybrid_metrics_path)
    lex = run.hybrid_lexicon_path
    if lex.exists():
        with open(lex, newline="", encoding="utf-8") as f:
            data.hybrid_lexicon = list(csv.DictReader(f))
    data.viewer = viewer_payload(data)
    return data


def load_accuracy(run_dir: Path) -> dict | None:
    """Test accuracy per seed (seeds/<seed>/metrics.json), stablex's reading from the per-text
    predictions (stats/accuracy.py) and the study's windows (the replication)."""
    seeds = Run(run_dir).trained_seeds()
    by_seed, n_test = test_accuracy(read_seed_metrics(run_dir, seeds))
    by_seed = {s: a for s, a in by_seed.items() if math.isfinite(a)}
    if not by_seed:
        return None
    if not (n_test and len(by_seed) >= 2):
        return {"by_seed": dict(sorted(by_seed.items())), "n_test": n_test, "equivalence": None, "reading": None}
    try:
        an = Run(run_dir).config().analyze
        margin, power = an.accuracy_margin, an.power
    except Exception:  # a hand-made or damaged study.toml: the defaults
        margin, power = AnalyzeConfig.accuracy_margin, AnalyzeConfig.power
    correct = test_correctness(run_dir, sorted(by_seed))
    res = equivalence(by_seed, int(n_test), correct=correct, margin=margin, power=power)
    seeds = seed_accuracy(correct, margin=margin) if correct else None
    return {
        "by_seed": dict(sorted(by_seed.items())),
        "n_test": n_test,
        "equivalence": res.to_dict(),
        "seeds": seeds.to_dict() if seeds else None,
        "reading": accuracy_reading(seeds),
    }


# --- the text viewer ---------------------------------------------------------------------------


def _seed_files(run: Run, method: str) -> list[tuple[int, Path]]:
    return [(s, run.explanation_path(method, s)) for s in run.explained_seeds(method)]


def _rows_by_doc(path: Path, columns: list[str], doc_ids: set[str]) -> dict[str, dict[str, np.ndarray]]:
    """The rows of the texts `doc_ids`, per text in word order: Arrow filters and sorts the
    table (at the study's scale a seed's file holds ~300,000 rows; the viewer wants 50 texts)."""
    if not doc_ids:
        return {}
    t = pq.read_table(path, columns=["doc_id", "word_index", *columns], filters=[("doc_id", "in", sorted(doc_ids))])
    t = t.sort_by([("doc_id", "ascending"), ("word_index", "ascending")])
    ids = t.column("doc_id").to_pylist()
    cols = {c: t.column(c).to_numpy(zero_copy_only=False) for c in columns}
    out, start = {}, 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[start]:
            out[ids[start]] = {c: v[start:end] for c, v in cols.items()}
            start = end
    return out


def _round(values: np.ndarray, digits: int = 4) -> list[float | None]:
    """Four significant digits (the heatmap cannot show more); NaN -> None for JSON."""
    out: list[float | None] = []
    for v in np.asarray(values, float):
        out.append(None if not math.isfinite(v) else float(f"{v:.{digits}g}"))
    return out


def _toward_reference(rel: np.ndarray, target: list[str], reference: str | None) -> np.ndarray:
    """Relevance toward the reference class: two classes, flip the rows that explained the other."""
    if reference is None:  # more than two classes: relevance stays toward each seed's target
        return rel
    return toward(rel, np.array(target, dtype=object), reference)


def _read_map(path: Path, doc_ids: set[str], reference: str | None) -> dict[str, dict]:
    out = {}
    for d, c in _rows_by_doc(path, ["start", "end", "relevance", "target", "pred"], doc_ids).items():
        tgt = c["target"].tolist()
        out[d] = {
            "spans": np.stack([c["start"], c["end"]], 1).tolist(),
            "rel": _round(_toward_reference(c["relevance"].astype(float), tgt, reference)),
            "pred": c["pred"][0],
            "target": tgt[0],
        }
    return out


def _per_text_columns(path: Path) -> dict[str, list]:
    """per_text.parquet as columns, without the seed-draw replicates (stats.method_diff reads those)."""
    if not path.exists():
        return {}
    names = [n for n in pq.read_schema(path).names if n != "spearman_replicates"]
    return pq.read_table(path, columns=names).to_pydict()


def choose_texts(per_text: dict[str, list], available: list[str], n: int = MAX_TEXTS) -> list[str]:
    """Up to n texts spread over the range of seed agreement (Spearman), least stable first,
    so the viewer shows unstable and stable explanations alike; else the first n."""
    avail = set(available)
    ids, rho = per_text.get("doc_id", []), per_text.get("spearman", [])
    ranked = sorted(((r, d) for d, r in zip(ids, rho) if d in avail and r is not None and math.isfinite(r)))
    if not ranked:
        return available[:n]
    if len(ranked) <= n:
        return [d for _, d in ranked]
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, n)).astype(int))
    return [ranked[i][1] for i in picks]


def viewer_payload(data: ReportData) -> dict | None:
    """JSON for the text viewer: texts, per-seed maps, consensus with spread, feature map."""
    method = data.primary
    if method is None:
        return None
    run = Run(data.run_dir)
    files = _seed_files(run, method)
    if not files:
        return None
    shown = files[:MAX_SEEDS]
    first = pq.read_table(shown[0][1], columns=["doc_id"]).column("doc_id").unique().to_pylist()
    analysis = data.analyses.get(method)
    chosen = choose_texts(analysis.per_text if analysis else {}, first)
    wanted = set(chosen)
    split = pq.read_table(run.split_path, columns=["doc_id", "label", "text"]).to_pydict()
    texts = {d: (lab, txt) for d, lab, txt in zip(split["doc_id"], split["label"], split["text"]) if d in wanted}
    maps = {s: _read_map(p, wanted, data.reference) for s, p in shown}
    consensus = _consensus(data, method, wanted, maps)
    feat_files = _seed_files(run, FEATURE_MODEL)
    feats = _read_map(feat_files[0][1], wanted, data.reference) if feat_files else {}
    stats = {}
    if analysis:
        cols = analysis.per_text
        for i, d in enumerate(cols.get("doc_id", [])):
            if d in wanted:
                stats[d] = {k: _finite(cols[k][i]) for k in ("spearman", "fa_10", "half_r", "snr") if k in cols}
    out_texts = []
    for d in chosen:
        if d not in texts:
            continue
        label, text = texts[d]
        seeds = {
            str(s): {"rel": m[d]["rel"], "pred": m[d]["pred"], "target": m[d]["target"]}
            for s, m in maps.items()
            if d in m
        }
        spans = next((m[d]["spans"] for m in maps.values() if d in m), [])
        out_texts.append(
            {
                "id": d,
                "label": label,
                "text": text,
                "spans": spans,
                "seeds": seeds,
                "consensus": consensus.get(d),
                "features": feats.get(d),
                "stats": stats.get(d, {}),
            }
        )
    return {
        "method": method,
        "reference": data.reference,
        "classes": data.classes,
        "seeds_shown": [s for s, _ in shown],
        "seeds_total": len(files),
        "texts_total": len(first),
        "texts": out_texts,
    }


def _consensus(data: ReportData, method: str, wanted: set[str], maps: dict[int, dict]) -> dict[str, dict]:
    """Per word: mean over seeds and its spread; from analysis/<method>/per_word.parquet (all seeds,
    bootstrap band) when analysed, else from the seeds shown (mean +- SD)."""
    path = Run(data.run_dir).analysis_path(method, "per_word.parquet")
    out: dict[str, dict] = {}
    if path.exists():
        keys = ["consensus", "sd", "consensus_lo", "consensus_hi", "sign_consistency"]
        for d, c in _rows_by_doc(path, keys, wanted).items():
            col = {k: c[k].astype(float) for k in keys}  # nulls are NaN
            out[d] = {
                "mean": _round(col["consensus"]),
                "sd": _round(col["sd"]),
                "lo": _round(col["consensus_lo"]),
                "hi": _round(col["consensus_hi"]),
                "sign": _round(col["sign_consistency"], 3),
                "band": "95% seed-bootstrap band over all analysed seeds",
            }
        return out
    for d in wanted:
        rels = [np.array(m[d]["rel"], float) for m in maps.values() if d in m]
        if len(rels) < 2 or len({len(r) for r in rels}) != 1:
            continue
        R = np.stack(rels)
        mean, sd = R.mean(0), R.std(0, ddof=1)
        out[d] = {
            "mean": _round(mean),
            "sd": _round(sd),
            "lo": _round(mean - sd),
            "hi": _round(mean + sd),
            "sign": _round(np.maximum((R > 0).mean(0), (R < 0).mean(0)), 3),
            "band": "mean +- SD over the seeds shown (run `stablex analyze` for bootstrap bands)",
        }
    return out
