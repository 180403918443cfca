"""A fair stability comparison of the feature model and the transformer.

Under the transformer's randomness (seeds: head init, data order, dropout) logistic
regression is deterministic, so its explanations agree perfectly: true, but not a fair
comparison. The fair one resamples the training data: both model kinds trained on the
same bootstrap draws of the training split (the transformer's own draws when it was
trained with `bootstrap = true`). Each model kind becomes one point: test accuracy
against explanation agreement across draws, each with an interval. Agreement is computed
by the same code for both, on relevance toward the last class (two classes: the sign of
a relevance toward the other class is flipped), so a changed prediction does not count
as disagreement by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stablex.config import FeaturesConfig
from stablex.errors import StablexError
from stablex.features.definitions import default_feature_set
from stablex.features.model import SeedDraw, fit, load_run, parse_views, train_rows, transformer_draws
from stablex.io import write_json
from stablex.rundir import Run
from stablex.stats.agreement import MIN_WORDS_CORRELATION, correlation_pairs, pair_mean, topk_pairs
from stablex.stats.intervals import bootstrap_mean_ci
from stablex.stats.load import toward
from stablex.train.seeds import derive_seeds


def _interval(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "lo": float(np.quantile(values, 0.025)),
        "hi": float(np.quantile(values, 0.975)),
        "n": int(len(values)),
    }


def text_agreement(R: np.ndarray, k: int) -> tuple[float, float]:
    """Mean over model pairs of Spearman's rho and FA@k for one text (R: models x words), by
    the code of `stablex analyze` (stats/agreement.py), with its conventions for ties and
    constant vectors."""
    X = np.asarray(R, dtype=float)[None]
    rho = pair_mean(correlation_pairs(X, ranks=True))[0]
    fa = pair_mean(topk_pairs(X, k)["fa"])[0]
    return float(rho), float(fa)


def agreement(maps: dict[str, np.ndarray], k: int, n_boot: int = 200, seed: int = 0) -> dict:
    """Per-text agreement averaged over texts, with a bootstrap interval over texts."""
    docs = [d for d, R in maps.items() if R.shape[0] >= 2 and R.shape[1] >= MIN_WORDS_CORRELATION]
    if not docs:
        raise StablexError("agreement needs at least two models and texts of two words or more")
    per_text = np.array([text_agreement(maps[d], k) for d in docs])
    out = {}
    for j, name in enumerate(("spearman", f"fa@{k}")):
        lo, hi = bootstrap_mean_ci(per_text[:, j], n_boot, seed) or [None, None]
        out[name] = {"mean": float(per_text[:, j].mean()), "lo": lo, "hi": hi, "n_texts": len(docs)}
    return out


def read_maps(files: list[Path], classes: list[str]) -> dict[str, np.ndarray]:
    """doc_id -> models x words relevance toward classes[-1], from long explanation files."""
    per_doc: dict[str, list[np.ndarray]] = {}
    for f in files:
        t = pq.read_table(f, columns=["doc_id", "word_index", "relevance", "target"])
        doc = t.column("doc_id").to_numpy(zero_copy_only=False)
        wi = t.column("word_index").to_numpy()
        rel = t.column("relevance").to_numpy().astype(float)
        if len(classes) == 2:
            rel = toward(rel, t.column("target").to_numpy(zero_copy_only=False), classes[-1])
        order = np.lexsort((wi, doc))
        doc, rel = doc[order], rel[order]
        bounds = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            per_doc.setdefault(doc[a], []).append(rel[a:b])
    n_models = len(files)
    return {d: np.stack(v) for d, v in per_doc.items() if len(v) == n_models and len({len(x) for x in v}) == 1}


@dataclass
class StabilityResult:
    points: list[dict]
    deterministic_under_seeds: bool
    equal_terms: bool  # the transformer was trained on the same bootstrap draws
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def compare_stability(run_dir: str | Path, config: FeaturesConfig, method: str = "lrp") -> StabilityResult:
    """Write RUN/features/stability.json: one accuracy-vs-agreement point per model kind and randomness."""
    run = Run(run_dir)
    data = load_run(run.path)
    t_draws = transformer_draws(run.path)
    seeds_point = _seeds_point(data, config, len(t_draws) or 1)
    # resampling: the transformer's draws when it bootstrapped, else derived draws
    boot_draws = [d for d in t_draws if d.data_seed is not None]
    equal_terms = bool(boot_draws) and len(boot_draws) == len(t_draws)
    if not boot_draws:  # resample_draws >= 2 (config_checks)
        boot_draws = [SeedDraw(s, derive_seeds(s).data_seed) for s in range(config.resample_draws)]
    points = [seeds_point, _resampling_point(data, config, boot_draws)]
    notes = []
    explained = run.explained_seeds(method)
    if t_draws and len(explained) >= 2:
        points.append(_transformer_point(run, method, explained, t_draws, data.classes, config.k, equal_terms))
        if not equal_terms:
            notes.append(
                "the transformer's seeds were not bootstrap draws: its point varies seeds, not the data; "
                "train with [train] bootstrap = true for a comparison on equal terms"
            )
    else:
        notes.append(f"no transformer explanations under {run.explanations_dir(method)}: feature model only")
    deterministic = seeds_point["deterministic"]
    write_json(
        run.stability_path,
        {
            "method": method,
            "transformer_seeds": explained,
            "k": config.k,
            "explain_split": config.explain_split,
            "equal_terms": equal_terms,
            "deterministic_under_seeds": deterministic,
            "points": points,
            "notes": notes,
            "relevance": "toward the last class (two classes: sign flipped where target is the other)",
        },
    )
    return StabilityResult(points, deterministic, equal_terms, run.stability_path, notes)


def _seeds_point(data, config: FeaturesConfig, n_models: int) -> dict:
    """Refits with other random states: lbfgs ignores them, so the word maps agree exactly
    when the coefficients do (checked, not assumed: `deterministic`)."""
    train, test = data.rows("train"), data.rows("test")
    a = fit(data.X[train], data.y[train], data.names, data.classes, config.C, random_state=0)
    b = fit(data.X[train], data.y[train], data.names, data.classes, config.C, random_state=12345)
    coef_diff = float(np.max(np.abs(a.coef - b.coef)))
    acc = float(np.mean(a.predict(data.X[test]) == data.y[test]))
    return {
        "model": "features",
        "randomness": "seeds",
        "n_models": n_models,
        "accuracy": {"mean": acc, "lo": acc, "hi": acc, "n": 1},
        "agreement": {
            "spearman": {"mean": 1.0, "lo": 1.0, "hi": 1.0},
            f"fa@{config.k}": {"mean": 1.0, "lo": 1.0, "hi": 1.0},
        },
        "deterministic": coef_diff <= 1e-12,
        "max_abs_coef_difference": coef_diff,
    }


def _resampling_point(data, config: FeaturesConfig, draws: list[SeedDraw]) -> dict:
    """The feature model refitted on each bootstrap draw: accuracy and word-map agreement."""
    fs = default_feature_set(config)
    test, ex_rows = data.rows("test"), data.rows(config.explain_split)
    views = parse_views([data.texts[i] for i in ex_rows], config)
    weights = [fs.token_weights(v) for v in views]
    accs, per_doc = [], {d: [] for d in data.doc_ids[ex_rows]}
    for draw in draws:
        r = train_rows(data, draw)
        m = fit(data.X[r], data.y[r], data.names, data.classes, config.C)
        accs.append(float(np.mean(m.predict(data.X[test]) == data.y[test])))
        w = m.coef[-1] / m.scale
        for d, tw in zip(data.doc_ids[ex_rows], weights):
            per_doc[d].append(tw @ w)
    maps = {d: np.stack(v) for d, v in per_doc.items() if v and len(v[0])}
    return {
        "model": "features",
        "randomness": "resampling",
        "n_models": len(draws),
        "data_seeds": [d.data_seed for d in draws],
        "accuracy": _interval(np.array(accs)),
        "agreement": agreement(maps, config.k),
    }


def _transformer_point(
    run: Run, method: str, explained: list[int], draws: list[SeedDraw], classes: list[str], k: int, equal_terms: bool
) -> dict:
    files = [run.explanation_path(method, s) for s in explained]
    accs = []
    for d in draws:
        p = run.seed_predictions_path(d.seed)
        if p.exists():
            t = pq.read_table(p, columns=["label", "pred"], filters=[("split", "=", "test")])
            if t.num_rows:
                accs.append(float(pc.mean(pc.equal(t["label"], t["pred"])).as_py()))
    return {
        "model": "transformer",
        "method": method,
        "randomness": "resampling" if equal_terms else "seeds",
        "n_models": len(files),
        "accuracy": _interval(np.array(accs)) if accs else None,
        "agreement": agreement(read_maps(files, classes), k),
    }
