"""Seeds as Ray tasks on a local (loopback) Ray cluster: same run directory, same results.

A tiny real fine-tune (e5-small, 80 Le Monde texts, 32 tokens, top 6 layers, 1 epoch, one
torch thread) is trained with the local executor and with Ray, including a Ray worker killed
mid-seed (retried by Ray) and a killed worker with no retries left (completed by a rerun).
Everything must be bit-identical to the local run. About a minute and a half on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")

from stablex.config import ExplainConfig, StudyConfig  # noqa: E402
from stablex.explain.distributed import explain_distributed  # noqa: E402
from stablex.train.executors import (  # noqa: E402
    PID_DIR_ENV,
    LocalExecutor,
    RayExecutor,
    SeedsFailed,
    make_executor,
    train_distributed,
)

SEEDS = [0, 1]
VOLATILE = ("train_seconds", "predict_seconds")  # wall-clock, differ between runs


def tiny_study(corpus: Path) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "corpus": {"path": str(corpus), "max_docs": 80, "balance": True, "max_tokens": 32},
            "model": {"name": "e5-small", "freeze_layers": 6},
            "train": {"seeds": SEEDS, "epochs": 1, "batch_size": 16, "threads": 1},
        }
    )


def explain_cfg() -> ExplainConfig:
    return ExplainConfig(max_docs=4, randomisation_texts=2, threads=1)


@pytest.fixture(scope="module")
def pid_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pids")


@pytest.fixture(scope="module")
def cluster(pid_dir):
    """A private Ray instance on 127.0.0.1 with 2 CPUs; shut down after the module."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {PID_DIR_ENV: str(pid_dir), "HF_HUB_OFFLINE": "1"}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, lemonde_path):
    out = tmp_path_factory.mktemp("local") / "run"
    cfg = tiny_study(lemonde_path)
    res = train_distributed(cfg, out, LocalExecutor(), show_progress=False)
    assert res.trained == SEEDS
    explain_distributed(out, "lrp", explain_cfg(), LocalExecutor(), show_progress=False)
    return out, cfg


def seed_artefacts(run: Path, seed: int) -> dict:
    d = run / "seeds" / str(seed)
    metrics = json.loads((d / "metrics.json").read_text())
    for k in VOLATILE:
        metrics.pop(k)
    return {
        "metrics": metrics,
        "predictions": (d / "predictions.parquet").read_bytes(),
        "model": (d / "model" / "model.safetensors").read_bytes(),
    }


def assert_same_seeds(a: Path, b: Path) -> None:
    for s in SEEDS:
        x, y = seed_artefacts(a, s), seed_artefacts(b, s)
        assert x["metrics"] == y["metrics"], s
        assert x["predictions"] == y["predictions"], s  # same table, same bytes
        assert x["model"] == y["model"], s


def attempts(pid_dir: Path, stage: str, seed: int, since: float = 0.0) -> list[int]:
    files = [p for p in pid_dir.glob(f"{stage}-{seed}-*") if p.stat().st_mtime >= since]
    return sorted(int(p.name.rsplit("-", 1)[1]) for p in files)


def kill_when_started(pid_dir: Path, run: Path, seed: int, since: float, timeout: float = 120) -> int:
    """SIGKILL the worker process that starts training `seed`, while the seed is incomplete."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = attempts(pid_dir, "train", seed, since)
        if pids:
            time.sleep(0.5)  # inside the seed: loading the checkpoint, caching, training
            assert not (run / "seeds" / str(seed) / "metrics.json").exists(), "seed finished before the kill"
            os.kill(pids[0], signal.SIGKILL)
            return pids[0]
        time.sleep(0.05)
    raise AssertionError(f"seed {seed} never started")


def run_in_thread(fn, *args, **kw):
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def test_ray_equals_local(cluster, local_run, tmp_path):
    local, cfg = local_run
    out = tmp_path / "run"
    with RayExecutor(cpus_per_seed=1) as ex:
        res = train_distributed(cfg, out, ex, show_progress=False)
        assert sorted(res.trained) == SEEDS and res.skipped == []
        assert_same_seeds(local, out)
        # the run directory contract: same records as the local run
        assert (out / "study.toml").read_text() == (local / "study.toml").read_text()
        assert (out / "split.parquet").read_bytes() == (local / "split.parquet").read_bytes()
        # complete seeds are not handed out again
        again = train_distributed(cfg, out, ex, show_progress=False)
        assert again.trained == [] and sorted(again.skipped) == SEEDS
        # explanations: every seed's parquet identical, one summary with every seed
        ex_res = explain_distributed(out, "lrp", explain_cfg(), ex, show_progress=False)
        assert sorted(ex_res.explained) == SEEDS
    for s in SEEDS:
        a = (local / "explanations" / "lrp" / f"seed-{s}.parquet").read_bytes()
        b = (out / "explanations" / "lrp" / f"seed-{s}.parquet").read_bytes()
        assert a == b, s
    sa = json.loads((local / "explanations" / "lrp" / "summary.json").read_text())
    sb = json.loads((out / "explanations" / "lrp" / "summary.json").read_text())
    assert sorted(sb["seeds"]) == sorted(sa["seeds"]) == [str(s) for s in SEEDS]
    assert sb["config"] == sa["config"] and sb["randomisation"] == sa["randomisation"]
    for s in map(str, SEEDS):
        assert sb["seeds"][s]["conservation"] == sa["seeds"][s]["conservation"]


def test_killed_worker_is_retried(cluster, local_run, pid_dir, tmp_path):
    local, cfg = local_run
    out = tmp_path / "run"
    since = time.time() - 1
    with RayExecutor(cpus_per_seed=1, max_retries=2) as ex:
        t, box = run_in_thread(train_distributed, cfg, out, ex, show_progress=False)
        killed = kill_when_started(pid_dir, out, 0, since)
        t.join(timeout=240)
    assert not t.is_alive(), "sweep did not finish"
    assert "error" not in box, box.get("error")
    assert sorted(box["result"].trained) == SEEDS
    tries = attempts(pid_dir, "train", 0, since)
    assert killed in tries and len(tries) >= 2, tries  # Ray ran seed 0 again in a new worker
    assert_same_seeds(local, out)


def test_killed_worker_without_retries_rerun_completes(cluster, local_run, pid_dir, tmp_path):
    local, cfg = local_run
    out = tmp_path / "run"
    since = time.time() - 1
    with RayExecutor(cpus_per_seed=1, max_retries=0) as ex:
        t, box = run_in_thread(train_distributed, cfg, out, ex, show_progress=False)
        kill_when_started(pid_dir, out, 1, since)
        t.join(timeout=240)
        assert not t.is_alive()
        err = box.get("error")
        assert isinstance(err, SeedsFailed) and set(err.failures) == {1}, err
        assert "rerun" in str(err)
        assert (out / "seeds" / "0" / "metrics.json").exists()  # the seed that lived is complete
        assert not (out / "seeds" / "1" / "metrics.json").exists()  # the killed one left no record
        res = train_distributed(cfg, out, ex, show_progress=False)
    assert res.trained == [1] and res.skipped == [0]
    assert_same_seeds(local, out)


def test_make_executor_and_local_default(lemonde_path, tmp_path):
    assert isinstance(make_executor("local"), LocalExecutor)
    ex = make_executor("ray", address="127.0.0.1:1", cpus_per_seed=2, gpus_per_seed=0.5)
    assert isinstance(ex, RayExecutor) and ex.threads_per_seed == 2 and ex.gpus_per_seed == 0.5
    from stablex.errors import StablexError

    with pytest.raises(StablexError, match="local or ray"):
        make_executor("dask")
    with pytest.raises(StablexError, match="--address needs"):
        make_executor("local", address="auto")
