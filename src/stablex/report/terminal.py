"""What the API returns: results that print as tables in a terminal (rich) and in Jupyter.

Each wraps the computed result (`.result`, and whatever else it names) so that a notebook
user reads numbers from attributes and sees tables when the object is displayed; the CLI
prints the same objects.
"""

from __future__ import annotations

import io

from rich.console import Console, Group

from stablex.tables import table


class Rendered:
    """`__rich__` renders; this turns it into text (print) and HTML (Jupyter)."""

    def __rich__(self):  # pragma: no cover - each subclass renders itself
        raise NotImplementedError

    def _render(self, html: bool) -> str:
        console = Console(record=True, width=120, file=io.StringIO(), force_jupyter=False)
        console.print(self)
        return console.export_html(inline_styles=True) if html else console.export_text()

    def __str__(self) -> str:
        return self._render(html=False)

    def _repr_html_(self) -> str:
        return self._render(html=True)


def _ci(x: float, ci, fmt: str = ".3f") -> str:
    return f"{x:{fmt}}" + (f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci and None not in ci else "")


class ModelsReport(Rendered):
    """stablex's accuracy reading (SeedAccuracy, `.seeds`) and the study's windows as the
    replication (EquivalenceResult, `.result`), with the per-seed accuracies."""

    def __init__(self, result, accuracies: dict[int, float], seeds=None):
        self.result, self.accuracies, self.seeds = result, accuracies, seeds

    def __rich__(self):
        a = self.result.accuracy
        r = self.seeds
        cols = ["mean", "observed SD", "min", "max"]
        if r is not None:
            cols += [f"seed SD [{r.seed_sd.level:.0%} CI]", f"upper {r.seed_sd.level:.0%} bound", r.omnibus.test + " p"]
        top = table(f"test accuracy over {a.n_seeds} seed(s), {self.result.n_test} test texts", cols)
        row = [f"{a.mean:.4f}", "-" if a.sd is None else f"{a.sd:.4f}", f"{a.min:.4f}", f"{a.max:.4f}"]
        if r is not None:
            s = r.seed_sd
            row += [f"{s.sd:.4f} [{s.ci[0]:.4f}, {s.ci[1]:.4f}]", f"{s.upper:.4f}", f"{r.omnibus.p_value:.3g}"]
        top.add_row(*row)
        eq = table(
            "replication of the study (not stablex's conclusion): narrowest ε windows and the "
            f"two-proportion z-test of their best vs worst seed, alpha {self.result.alpha}",
            ["n", "epsilon", "window", "z", "p", "study's reading"],
        )
        for sub in self.result.subsets:
            eq.add_row(
                str(sub.n),
                f"{sub.epsilon:.4f}",
                f"[{sub.low:.4f}, {sub.high:.4f}]",
                "-" if sub.z is None else f"{sub.z:.2f}",
                f"{sub.p_value:.3f}",
                "equivalent" if sub.equivalent else "not equivalent",
            )
        return Group(top, self.reading(), eq)

    def reading(self) -> str:
        from stablex.stats.accuracy import reading

        return reading(self.seeds)


class AnalysisReport(Rendered):
    """AnalysisResult (its fields read through: `.summary`, `.paths`, …) as the table of
    corpus-level figures."""

    def __init__(self, result):
        self.result = result

    def __getattr__(self, name: str):
        return getattr(self.__dict__["result"], name)

    def __rich__(self):
        from stablex.stats.analyze import format_table

        return format_table(self.result)


class FaithfulnessReport(Rendered):
    """FaithfulnessResult: AOPC per ranking, and each method's paired gain over the baselines."""

    def __init__(self, result):
        self.result = result

    def __rich__(self):
        from stablex.explain.methods import BASELINES, is_baseline

        res = self.result
        seeds = ", ".join(map(str, getattr(res, "seeds", []) or []))
        base = next(iter(BASELINES))
        t = table(
            f"faithfulness (AOPC over 1, 5, 10, 20, 50 % of words, seeds {seeds}; 95% intervals over "
            f"texts and seeds; vs: paired) -> {res.path}",
            ["method", "compr. ↑", f"vs {base}", "suff. ↓", f"vs {base}"],
            f"compr.: comprehensiveness AOPC (higher is more faithful); suff.: sufficiency AOPC (lower is); "
            f"vs {base}: the paired gain over the {base} ranking (positive: more faithful)",
        )

        def cell(v: dict | None, key: str, ci_key: str) -> str:
            return "-" if v is None else _ci(v[key], v.get(ci_key), "+.4f")

        for m, s in res.methods.items():
            vs = None if is_baseline(m) else (s.get("vs") or {}).get(base)
            t.add_row(
                m,
                cell(s, "comprehensiveness_aopc", "comprehensiveness_ci"),
                cell(vs, "comprehensiveness_gain", "comprehensiveness_gain_ci"),
                cell(s, "sufficiency_aopc", "sufficiency_ci"),
                cell(vs, "sufficiency_gain", "sufficiency_gain_ci"),
            )
        return t


class FeaturesReport(Rendered):
    """The feature model (FeatureModelResult) and its stability comparison (StabilityResult)."""

    def __init__(self, model, stability):
        self.model, self.stability = model, stability

    def __rich__(self):
        t = table("feature model (standardised features + logistic regression)", ["split", "accuracy", "macro-F1"])
        for split, m in self.model.metrics.items():
            t.add_row(split, f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}")
        t.caption = (
            f"majority rate {self.model.majority_rate:.3f}; deterministic under seeds: "
            f"{self.stability.deterministic_under_seeds}; stability points -> {self.stability.path}"
        )
        return t


class HybridReport(Rendered):
    """HybridResult: every variant on the test split and the held-out pool, against the feature model."""

    def __init__(self, result, method: str):
        self.result, self.method = result, method

    def __rich__(self):
        res = self.result
        t = table(
            f"hybrid: feature model + lexicons from {self.method} explanations of the training split",
            [("variant", "left"), "pool", "texts", "feature model", "hybrid", "difference", "McNemar p"],
        )
        for v, r in res.variants.items():
            for pool in ("test", "held_out"):
                if pool in r:
                    c, vs = r[pool], r[pool]["vs_base"]
                    t.add_row(
                        v + (" *" if v == res.consensus["variant"] else ""),
                        pool,
                        str(c["n"]),
                        _ci(c["base_accuracy"], c.get("base_accuracy_ci")),
                        _ci(c["accuracy"], c.get("accuracy_ci")),
                        _ci(vs["difference"], vs["ci"], "+.3f"),
                        f"{vs['mcnemar']['p_exact']:.3g}",
                    )
        t.caption = (
            f"variant: settings chosen by cross-validation, * the one chosen on the training split; accuracies "
            f"with 95% Wilson intervals, difference with its paired 95% interval -> {res.paths['metrics']}"
        )
        return t
