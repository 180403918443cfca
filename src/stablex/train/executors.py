"""Where the seeds of a sweep run: in this process (`LocalExecutor`) or as Ray tasks (`RayExecutor`).

Seeds are independent, so a sweep is a map over seeds. An executor that runs seeds
elsewhere (`in_process = False`) has one small contract::

    executor.map_seeds(fn, seeds, on_done) -> {seed: fn(seed)}

`fn` is a picklable callable (a module-level function or a `functools.partial` of one);
`on_done(seed, result)` is called on the driver as each seed finishes, in completion order.
Seeds that fail are reported together at the end (`SeedsFailed`) after the others have
finished, so that one bad seed never throws away the work of the rest.

`train_distributed` (here) and `explain_distributed` (explain/distributed.py) prepare the run on
the driver, then hand one task per seed to the executor; each task calls the ordinary stage function on that seed
alone (`train(cfg, out, seeds=[seed])`, `explain(run, method, config, seeds=[seed])`), which
writes the seed's artefacts atomically into the run directory (docs/run-directory.md).
The run directory is therefore how the model reaches the workers (its `base/` holds the
prepared checkpoint) and how results come back: with Ray on several machines it must be on
a filesystem that every node mounts (docs/ray.md).

A worker killed mid-seed leaves no complete artefact of that seed behind (`metrics.json` is
written last, the explanation parquet in one rename); Ray retries the task (`max_retries`)
and, if the retries are spent, a rerun of the sweep completes it. Training is a pure
function of (configuration, seed, thread count), so the result equals a local run's.

Ray is an optional extra (`pip install 'stablex[ray]'`); nothing here imports it until a
`RayExecutor` is used.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.progress import Progress

from stablex.config import StudyConfig
from stablex.errors import StablexError

SeedFn = Callable[[int], Any]
OnDone = Callable[[int, Any], None]

# Test hook: when set in a worker's environment, every seed task drops a file
# `<stage>-<seed>-<pid>` there as it starts (so that a test can kill the worker mid-seed).
PID_DIR_ENV = "STABLEX_SEED_PID_DIR"


class SeedsFailed(StablexError):
    """Some seeds of a distributed sweep failed; the others completed."""

    def __init__(self, failures: dict[int, BaseException], results: dict[int, Any]):
        self.failures = failures
        self.results = results
        reasons = "; ".join(f"seed {s}: {_reason(e)}" for s, e in sorted(failures.items()))
        super().__init__(
            f"{len(failures)} seed(s) failed ({reasons}); the other seeds are complete, "
            f"rerun the same command to complete the sweep"
        )


def _reason(e: BaseException) -> str:
    cause = getattr(e, "cause", None)  # RayTaskError wraps the worker's exception
    e = cause if isinstance(cause, BaseException) else e
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}"[:300]


class LocalExecutor:
    """The whole sweep in this process, by the ordinary stage function (the default; needs no
    Ray): frozen layers are cached once for all seeds, which one task per seed cannot do."""

    name = "local"
    in_process = True  # train_distributed / explain_distributed call train() / explain() directly
    threads_per_seed: int | None = None

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _call(fn: SeedFn, seed: int) -> Any:
    return fn(seed)


class RayExecutor:
    """One Ray task per seed.

    address: None starts a private local Ray instance (loopback, no dashboard, no usage
    stats) unless `ray.init` was already called in this process or RAY_ADDRESS is set;
    otherwise a cluster address ('auto', 'HOST:6379', 'ray://HOST:10001'). cpus_per_seed / gpus_per_seed are the
    task's resource request (and cpus_per_seed the torch thread count when the study leaves
    `threads` unset). max_retries: how often Ray reruns a seed whose worker died.
    """

    name = "ray"
    in_process = False

    def __init__(
        self,
        address: str | None = None,
        cpus_per_seed: float = 1,
        gpus_per_seed: float = 0,
        max_retries: int = 2,
        runtime_env: dict | None = None,
        init_kwargs: dict | None = None,
    ):
        if cpus_per_seed <= 0 or gpus_per_seed < 0 or max_retries < 0:
            raise StablexError("--cpus-per-seed must be > 0, --gpus-per-seed and max_retries >= 0")
        self.address = address
        self.cpus_per_seed = cpus_per_seed
        self.gpus_per_seed = gpus_per_seed
        self.max_retries = max_retries
        self.runtime_env = runtime_env
        self.init_kwargs = dict(init_kwargs or {})
        self._owned = False
        self._ray = None

    @property
    def threads_per_seed(self) -> int:
        return max(1, int(self.cpus_per_seed))

    def _ensure(self):
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError:
            raise StablexError("--executor ray needs Ray: pip install 'stablex[ray]'") from None
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.runtime_env:
                kwargs["runtime_env"] = self.runtime_env
            address = self.address if self.address is not None else os.environ.get("RAY_ADDRESS")
            if address in (None, "", "local"):
                kwargs.update(address="local", _node_ip_address="127.0.0.1")
            else:
                kwargs = {
                    "address": address,
                    "log_to_driver": False,
                    **({"runtime_env": self.runtime_env} if self.runtime_env else {}),
                }
            kwargs.update(self.init_kwargs)
            try:
                ray.init(**kwargs)
            except ConnectionError as e:
                raise StablexError(f"--address {address}: cannot reach a Ray cluster ({e})") from None
            self._owned = True
        self._ray = ray
        return ray

    def map_seeds(self, fn: SeedFn, seeds: Iterable[int], on_done: OnDone | None = None) -> dict[int, Any]:
        ray = self._ensure()
        task = ray.remote(_call).options(
            num_cpus=self.cpus_per_seed,
            num_gpus=self.gpus_per_seed,
            max_retries=self.max_retries,
            retry_exceptions=False,
            name="stablex-seed",
        )
        fn_ref = ray.put(fn)  # shipped once, not once per seed
        refs = {task.remote(fn_ref, seed): seed for seed in seeds}
        pending = list(refs)
        results: dict[int, Any] = {}
        failures: dict[int, BaseException] = {}
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    seed = refs[ref]
                    try:
                        results[seed] = ray.get(ref)
                    except (ray.exceptions.RayTaskError, ray.exceptions.RayError) as e:
                        failures[seed] = e
                        continue
                    if on_done:
                        on_done(seed, results[seed])
        except BaseException:
            for ref in pending:  # interrupted driver: stop the seeds still queued or running
                ray.cancel(ref, force=True)
            raise
        if failures:
            raise SeedsFailed(failures, results)
        return results

    def close(self) -> None:
        if self._owned and self._ray is not None:
            self._ray.shutdown()
        self._owned = False
        self._ray = None

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(
    name: str = "local",
    address: str | None = None,
    cpus_per_seed: float = 1,
    gpus_per_seed: float = 0,
    max_retries: int = 2,
):
    """The executor a command line asks for (`--executor local|ray`)."""
    if name == "local":
        if address is not None:
            raise StablexError("--address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(
            address=address, cpus_per_seed=cpus_per_seed, gpus_per_seed=gpus_per_seed, max_retries=max_retries
        )
    raise StablexError(f"--executor {name!r}: choose local or ray")


# --- seed tasks (run on the workers) --------------------------------------------------------


def mark_start(stage: str, seed: int) -> None:
    """Leave `<stage>-<seed>-<pid>` in $STABLEX_SEED_PID_DIR when set: how a test finds a worker to kill."""
    where = os.environ.get(PID_DIR_ENV)
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        (Path(where) / f"{stage}-{seed}-{os.getpid()}").touch()


def _train_seed(cfg: StudyConfig, out: str, seed: int) -> dict:
    from stablex.train.sweep import train

    mark_start("train", seed)
    res = train(cfg, out, seeds=[seed], show_progress=False)
    return {
        "seed": seed,
        "trained": seed in res.trained,
        "seconds": res.seconds,
        "pid": os.getpid(),
        "host": os.uname().nodename,
    }


# --- drivers ----------------------------------------------------------------------------------


def train_distributed(
    cfg: StudyConfig,
    out: str | Path,
    executor=None,
    force: bool = False,
    seeds: list[int] | None = None,
    progress: Progress | None = None,
    show_progress: bool = True,
):
    """`train` with each seed handed to `executor`; returns a `TrainResult` like `train`.
    The run is held (`rundir.lock_run`) while its seeds train: a second sweep on it is refused."""
    from stablex.rundir import lock_run

    with lock_run(out):
        return _train_distributed(cfg, out, executor, force, seeds, progress, show_progress)


def _train_distributed(
    cfg: StudyConfig,
    out: str | Path,
    executor,
    force: bool,
    seeds: list[int] | None,
    progress: Progress | None,
    show_progress: bool,
):
    from stablex.io import write_text
    from stablex.progress import progress_or
    from stablex.train.sweep import TrainResult, check_plans, init_run, resolve_encoder, train

    executor = executor or LocalExecutor()
    if executor.in_process:
        return train(cfg, out, force=force, progress=progress, show_progress=show_progress, seeds=seeds)
    started = time.perf_counter()
    cfg = resolve_encoder(cfg)  # "half" of the encoder's layers: a number before workers get it
    run = init_run(cfg, Path(out).resolve(), force=force)  # corpus, split and base/ on the driver
    result = TrainResult(run_dir=run.path)
    wanted = list(cfg.train.seeds if seeds is None else seeds)
    done = set(run.trained_seeds())
    check_plans(run, cfg, [s for s in wanted if s in done])  # the local path's check: no seed moved to another group
    todo = [s for s in wanted if s not in done]
    result.skipped = [s for s in wanted if s in done]
    if not todo:
        return result
    worker_cfg = cfg  # one seed per task: its CPUs, not the whole node's
    if worker_cfg.train.threads is None:
        worker_cfg = cfg.replace("train", threads=executor.threads_per_seed)
    fn = functools.partial(_train_seed, worker_cfg, str(run.path))
    try:
        with progress_or(progress, disable=not show_progress) as prog:
            task = prog.add_task(f"seeds on {executor.name} ({len(result.skipped)} already done)", total=len(todo))

            def on_done(seed: int, r: dict) -> None:
                if r.get("trained"):
                    result.trained.append(seed)
                else:
                    result.skipped.append(seed)
                prog.advance(task)

            executor.map_seeds(fn, todo, on_done)
    finally:
        # workers rewrote study.toml with their thread count; keep the driver's configuration
        write_text(run.study_path, cfg.to_toml())
    result.seconds = time.perf_counter() - started
    return result
