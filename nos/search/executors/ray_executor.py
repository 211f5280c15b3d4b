"""The Ray executor: chunks of rules as Ray tasks, each running the batched engine in a worker.

    nos search --executor ray                       # a local Ray instance on this machine's CPUs
    nos search --executor ray --ray-address auto    # the cluster `ray start --head` made

At most `slots()` chunks are in flight (the cluster's CPUs / ``cpus_per_task``), so a chunk's
clock starts when it can run. Before its first chunk, and after a timeout killed a worker, the
executor warms `slots()` workers (each imports TensorFlow once, untimed, within
``STARTUP_SECONDS``), so ``timeout_seconds`` measures chunks, not a cold worker's imports.
Outcomes, per chunk:
  - the rules' outcome dicts (`worker.evaluate_chunk`), when the task returns;
  - a retry, when the worker died (``WorkerCrashedError``: os._exit, segfault, OOM killer, a lost
    node) or the task raised, up to ``retries`` times; then a "failed" outcome with the last reason;
  - failed with reason "timeout after Ns" when it runs past ``timeout_seconds``: the task is cancelled
    with ``ray.cancel(force=True)``, which kills its worker, and is not retried.
An interrupted call (Ctrl-C, SIGTERM) cancels its tasks. Workers keep TensorFlow and their
compiled loops between tasks; each node needs this package installed (``pip install -e .[ray]``,
same version as the driver). A task's TensorFlow uses ``cpus_per_task`` threads (at least 1).
"""

from __future__ import annotations

import collections
import os
import socket
import sys
import time

from nos.engine.outcome import failed
from nos.errors import NosError
from nos.search.executors import faults
from nos.search.executors.base import Executor, gave_up, one_line
from nos.search.executors.worker import evaluate_chunk

WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
"""Environment of a worker before it imports TensorFlow: quiet, on CPU (several workers on one
GPU would each claim all of its memory)."""
STARTUP_SECONDS = 600.0
"""How long warming a worker (TensorFlow's import) may take before the executor gives up."""
CONNECT_SECONDS = 10.0
"""How long to try reaching a cluster's address before giving up (ray.init alone retries for
many minutes, deaf to SIGTERM)."""


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, config):
        super().__init__(config)
        try:
            import ray
        except ImportError:
            raise NosError("the ray executor needs Ray: pip install 'ray>=2.9' (the [ray] extra)") from None
        self.ray = ray
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            where = f"the Ray cluster at {config.address}" if config.address else "a local Ray instance"
            if config.address:
                _probe(config.address)
            try:
                ray.init(
                    address=config.address or None,
                    num_cpus=None if config.address else (config.num_cpus or None),
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="WARNING",
                )
            except Exception as error:  # noqa: BLE001 — the exception type varies by Ray version
                raise NosError(f"cannot start {where}: {one_line(error)}") from None
        self.task = ray.remote(worker_chunk).options(num_cpus=config.cpus_per_task, max_retries=0)
        self.warmer = ray.remote(warm_worker).options(num_cpus=config.cpus_per_task, max_retries=1)
        self.warm = False
        self.workers_warmed = 0

    def slots(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // self.config.cpus_per_task))

    def run_chunks(self, chunks, child, fault):
        ray, limit, retries = self.ray, self.config.timeout_seconds, self.config.retries
        outcomes: list = [None] * len(chunks)
        waiting = collections.deque((i, 0, 0.0) for i in range(len(chunks)))  # (chunk, attempt, seconds)
        running: dict = {}  # ObjectRef -> (chunk, attempt, seconds spent, started)
        slots = self.slots()
        try:
            while waiting or running:
                if not self.warm:
                    self._warm_up(slots - len(running), fault)
                while waiting and len(running) < slots:
                    i, attempt, spent = waiting.popleft()
                    ref = self.task.remote(chunks[i], child, attempt, fault, self.config.cpus_per_task)
                    running[ref] = (i, attempt, spent, time.monotonic())
                timeout = None
                if limit:
                    first_deadline = min(started for *_, started in running.values()) + limit
                    timeout = max(0.0, first_deadline - time.monotonic())
                done, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
                for ref in done:
                    i, attempt, spent, started = running.pop(ref)
                    spent += time.monotonic() - started
                    try:
                        outcomes[i] = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        if attempt < retries:
                            waiting.append((i, attempt + 1, spent))
                        else:
                            outcomes[i] = gave_up(_reason(ray, error), attempt + 1, spent)
                now = time.monotonic()
                for ref, (i, attempt, spent, started) in list(running.items()):
                    if limit and now - started > limit:
                        ray.cancel(ref, force=True)
                        del running[ref]
                        outcomes[i] = failed(f"timeout after {limit:g}s", attempt + 1, spent + now - started)
                        self.warm = False  # its worker was killed; the next one starts cold
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
        return outcomes

    def _warm_up(self, workers: int, fault) -> None:
        """Run `warm_worker` on `workers` idle workers at once (untimed by ``timeout_seconds``)."""
        refs = [self.warmer.remote(self.config.cpus_per_task, fault) for _ in range(max(workers, 0))]
        if refs:
            done, pending = self.ray.wait(refs, num_returns=len(refs), timeout=STARTUP_SECONDS)
            for ref in pending:
                self.ray.cancel(ref, force=True)
            if pending:
                raise NosError(f"Ray workers did not start within {STARTUP_SECONDS:g}s")
            try:
                self.workers_warmed += sum(self.ray.get(done))
            except self.ray.exceptions.RayError as error:
                raise NosError(f"a Ray worker failed to start: {_reason(self.ray, error)}") from None
        self.warm = True

    def close(self) -> None:
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def worker_chunk(items, child, attempt, fault, cpus: float) -> list[dict]:
    """`evaluate_chunk` in a Ray worker, set up by `warm_worker` if it was not."""
    warm_worker(cpus, fault)
    return evaluate_chunk(items, child, attempt, fault)


def warm_worker(cpus: float, fault) -> bool:
    """Set up this worker once: `WORKER_ENV`, ``cpus`` TensorFlow threads (at least 1, so that
    tasks sharing a node do not oversubscribe it), then TensorFlow and the engine imported.
    True when this call did the work (the worker was cold)."""
    if "nos.engine.grid" in sys.modules:
        return False
    if "tensorflow" not in sys.modules:
        threads = str(max(1, int(cpus)))
        os.environ.update(WORKER_ENV, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
    faults.slow_start(fault)
    import nos.engine.grid  # noqa: F401 — TensorFlow, Keras and the engine, once per worker

    return True


def _probe(address: str, seconds: float = CONNECT_SECONDS):
    """NosError unless something listens at the host:port that `address` names."""
    from ray._private import services  # the resolution of "auto" that ray.init itself uses

    try:
        target = services.canonicalize_bootstrap_address(address.removeprefix("ray://"))
    except ConnectionError as error:
        raise NosError(f"cannot find the Ray cluster {address}: {one_line(error)}") from None
    except Exception:  # noqa: BLE001 — another Ray version: let ray.init judge the address
        return
    host, _, port = (target or "").rpartition(":")
    if not port.isdigit():
        return
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=seconds).close()
    except OSError as error:
        raise NosError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def _reason(ray, error) -> str:
    if isinstance(error, ray.exceptions.WorkerCrashedError):
        return "worker died (WorkerCrashedError)"
    if isinstance(error, ray.exceptions.RayTaskError) and getattr(error, "cause", None) is not None:
        return one_line(error.cause)
    return one_line(error)
