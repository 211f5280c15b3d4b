"""`run_bench`: how fast the batched interpreter trains rules, against the naive way and the roof.

Measured in one process, so that ratios compare like with like on a shared machine:

1. roof: the best GFLOP/s of a float32 n×n matmul (TensorFlow, eager and XLA, best of a few),
   measured before the interpreter and again after the naive path; the higher one counts.
2. interpreter: rule-lanes per second on mlp_digits (T steps, batch 128, 64→32→10 MLP) at each
   K, lanes cycling through the catalog rules and a learning-rate grid, one K-lane chunk per
   call; the compile time (first call minus the best later call: a trace and XLA's compilation,
   or a trace and a load when the loop is in the compile cache) is reported apart. Every lane
   has seed 0, as in a search, so the chunk runs on the shared-batch path (one minibatch per
   step for all lanes, see `nos.engine.interpreter.lanes`). Also, at the largest K: the "search
   kernel" (row table of the whole grammar, random 3-unit rules), the same at the quick preset's
   task, units and steps (the kernel its search runs), and "mixed seeds" (the
   catalog lanes with K different seeds, forced into one chunk on the per-lane-minibatch path,
   ``shared_batch=False``).
3. naive: per rule, build ``task.keras_model()``, compile it with a Keras optimizer for the rule
   (`nos.RuleOptimizer`) and ``fit`` T steps
   of batch 128; rule-lanes per second over a few rules, after one untimed warm-up.
4. rosenbrock: rule-lanes per second of the interpreter at 4000 steps.
5. end to end: a real search (`nos.search.loop.search`: the quick preset without its funnel, random controller,
   a fixed number of samples, a fresh run directory), timed from the call to its return, as
   trained lanes (rules trained × learning rates × seeds) per second and as a fraction of the
   child FLOP rate of the search kernel and of the whole-grammar kernel at the search's own
   task, units and steps, both measured in this run; with its split into the baseline's
   measurement, the steps' propose / evaluate (compile + train + validate) / update / store, and
   the rest (validity checks and cache look-ups, run directory, TensorBoard, leaderboard). It
   runs twice in fresh processes sharing a new compile cache: cold (every loop compiled, as the
   first search on a machine), then warm (loops loaded from the cache, as every later search).

Child FLOPs of one lane and step count the MLP's matmuls only, forward and backward:
6 · batch · Σ_layers fan_in · fan_out (= 6·128·(64·32 + 32·10) ≈ 1.82 MFLOP for mlp_digits);
the optimizer's elementwise work is not counted. roof_fraction = lanes/s · T · that / roof.
"""

from __future__ import annotations

import math
import resource
import time

import numpy as np

from search_space import CATALOG, GRAMMAR, Rule
from search_space.tokens import slot_masks

FLOPS_FORMULA = "6 * batch_size * sum(fan_in * fan_out over dense kernels) per lane and step (matmuls only)"
NAIVE_RULES = ("sgd", "adam", "rmsprop")
END_TO_END_TIMEOUT = 1800
"""Seconds one end-to-end search may take before the bench gives up on it (it takes ~15 s here)."""


def child_flops(task) -> float:
    """FLOPs of one lane and step: forward + backward matmuls of the task's dense kernels."""
    kernels = [shape for shape in task.param_shapes if len(shape) == 2]
    return 6.0 * task.batch_size * sum(fan_in * fan_out for fan_in, fan_out in kernels)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The best float32 n×n matmul rate of TensorFlow here, eager or XLA, in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    best = math.inf
    for matmul in (tf.matmul, tf.function(tf.matmul, jit_compile=True)):
        matmul(a, b).numpy()
        for _ in range(repeats):
            started = time.perf_counter()
            matmul(a, b).numpy()
            best = min(best, time.perf_counter() - started)
    return 2.0 * n**3 / best / 1e9


def catalog_lanes(k: int, learning_rates) -> tuple[list, np.ndarray]:
    """k lanes cycling through the catalog's rules at each learning rate of the grid in turn."""
    rules = [entry.rule for entry in CATALOG]
    pairs = [(rule, lr) for lr in learning_rates for rule in rules]
    chosen = [pairs[i % len(pairs)] for i in range(k)]
    return [r for r, _ in chosen], np.asarray([lr for _, lr in chosen], np.float32)


def random_rules(k: int, units: int = 3, seed: int = 0, grammar=GRAMMAR) -> list:
    """k programs drawn uniformly from the legal tokens of each slot (as a random search does)."""
    generator = np.random.default_rng(seed)
    masks = slot_masks(grammar, units)
    return [
        Rule.from_tokens([int(generator.choice(np.flatnonzero(mask))) for mask in masks], grammar)
        for _ in range(k)
    ]


def time_lanes(task, rules, learning_rates, steps: int, rows="auto", repeats: int = 2, seeds=0,
               shared_batch=None) -> dict:
    """Rule-lanes/s of one chunk of len(rules) lanes: compile separately, best of `repeats`."""
    from nos.engine.interpreter import run_lanes

    k = len(rules)
    options = {"lanes_per_chunk": k, "rows": rows, "shared_batch": shared_batch}
    first = run_lanes(task, rules, learning_rates, seeds, steps, **options).seconds
    runs = [run_lanes(task, rules, learning_rates, seeds, steps, **options).seconds for _ in range(repeats)]
    best = min(runs)
    return {"k": k, "seconds": best, "lanes_per_second": k / best, "compile_seconds": max(first - best, 0.0)}


def naive_lanes(task, names, steps: int) -> dict:
    """Rule-lanes/s of building, compiling and fitting a Keras model per rule."""
    import tensorflow as tf

    from nos.keras.optimizer import RuleOptimizer

    def optimizer(name):
        return RuleOptimizer(next(e.rule for e in CATALOG if e.name == name), learning_rate=0.01)

    data = tf.data.Dataset.from_tensor_slices((task.data.x_train, task.data.y_train))
    data = data.repeat().shuffle(2048, seed=0).batch(task.batch_size)

    def fit(name, fit_steps):
        model = task.keras_model()
        model.compile(optimizer=optimizer(name), loss=task.keras_loss())
        model.fit(data, steps_per_epoch=fit_steps, epochs=1, verbose=0, shuffle=False)

    fit(names[0], min(steps, 10))  # warm-up: Keras' one-time costs are not the rules' costs
    started = time.perf_counter()
    for name in names:
        fit(name, steps)
    seconds = time.perf_counter() - started
    return {"optimizer": "nos.RuleOptimizer", "rules": list(names), "seconds": seconds,
            "lanes_per_second": len(names) / seconds}


def quick_search_config(samples: int):
    """The quick preset's search alone (no funnel) with the random controller for `samples` samples,
    drawing under the gradient masks when the preset's controller does (`require_gradient`)."""
    from nos.search.config import from_dict, load_preset

    data = load_preset("quick").to_dict()
    masked = data["controller"]["options"].get("require_gradient", False)
    data.update(budget=samples, controller={"name": "random", "options": {"require_gradient": masked}}, funnel=[])
    return from_dict(data)


def timed_search(samples: int) -> dict:
    """Time `nos.search.loop.search` of `quick_search_config` in a fresh run directory, in this
    process, after its imports of TensorFlow, Keras and sympy; see the module docstring (5.)."""
    import tempfile

    from nos.search.loop import search

    config = quick_search_config(samples)
    reward = config.reward
    _import_what_every_process_imports()
    with tempfile.TemporaryDirectory(prefix="nos-bench-") as directory:
        started = time.perf_counter()
        summary = search(config, directory, progress=False, log=lambda *_: None)
        seconds = time.perf_counter() - started
    lanes = summary.rules_trained * len(reward.learning_rates) * len(reward.seeds)
    split = dict(summary.seconds)
    split["baseline"] = summary.seconds_baseline
    split["other"] = max(seconds - sum(split.values()), 0.0)
    return {
        "preset": "quick", "controller": "random", "task": reward.task, "steps": reward.steps,
        "samples": summary.samples, "rules_trained": summary.rules_trained, "cache_hits": summary.cache_hits,
        "invalid": summary.invalid, "invalid_fraction": summary.invalid / max(summary.samples, 1),
        "lanes": lanes, "seconds": seconds, "lanes_per_second": lanes / seconds, "split_seconds": split,
    }


def _import_what_every_process_imports() -> None:
    """TensorFlow, Keras and sympy: a process's start-up (about 5 s here), not its search's."""
    import keras  # noqa: F401
    import sympy  # noqa: F401
    import tensorflow  # noqa: F401


def end_to_end(samples: int, kernel_flops_per_second: float, same_units_flops_per_second: float) -> dict:
    """`timed_search` twice, each in a fresh process, the two sharing a new, empty compile cache
    (`nos.engine.compile_cache`): "cold" is the first search on a machine (every loop compiled),
    the returned figures are the second ("warm": the loops loaded from the cache, as for every
    later search), with the cold ones under ``"cold"``. Each run's child FLOP rate is given as a
    fraction of the search kernel's (`kernel_fraction`) and of the whole-grammar kernel at the
    search's own task, units and steps (`same_units_kernel_fraction`)."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    from nos.engine import compile_cache
    from nos.engine.tasks import get_task

    code = f"import json; from nos.benchmark.speed import timed_search; print(json.dumps(timed_search({samples})))"
    runs = {}
    with tempfile.TemporaryDirectory(prefix="nos-bench-cache-") as cache:
        env = {**os.environ, compile_cache.ENV: cache, "TF_CPP_MIN_LOG_LEVEL": "2"}
        for name in ("cold", "warm"):
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                                  timeout=END_TO_END_TIMEOUT)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                raise RuntimeError(f"the {name} end-to-end search failed: {last}")
            runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    reward = quick_search_config(samples).reward
    flops = reward.steps * child_flops(get_task(reward.task, **reward.task_config))
    for run in runs.values():
        run["kernel_fraction"] = run["lanes_per_second"] * flops / kernel_flops_per_second
        run["same_units_kernel_fraction"] = run["lanes_per_second"] * flops / same_units_flops_per_second
    return {**runs["warm"], "cold": runs["cold"]}


def run_bench(*, quick: bool = False, ks=None, steps: int | None = None, log=print) -> dict:
    """Measure everything in the module docstring; returns the figures as a JSON-ready dict."""
    from nos.engine.grid import DEFAULT_LEARNING_RATES
    from nos.engine.tasks import get_task

    ks = tuple(ks or ((4, 8) if quick else (16, 64, 256)))
    steps = steps or (20 if quick else 300)
    rosenbrock_steps = 200 if quick else 4000
    task = get_task("mlp_digits", batch_size=128)

    size, repeats = (512, 3) if quick else (2048, 5)
    log(f"roof: float32 matmul {size}² …")
    roof = matmul_gflops(size, repeats)
    flops = child_flops(task)

    interpreter = []
    for k in ks:
        log(f"interpreter: mlp_digits, K = {k}, {steps} steps …")
        rules, lrs = catalog_lanes(k, DEFAULT_LEARNING_RATES)
        figures = time_lanes(task, rules, lrs, steps)
        figures["child_gflops"] = figures["lanes_per_second"] * steps * flops / 1e9
        interpreter.append(figures)
    best = max(interpreter, key=lambda f: f["lanes_per_second"])

    k_search = ks[-1]
    log(f"interpreter, search kernel (whole grammar, random rules): K = {k_search} …")
    search = time_lanes(task, random_rules(k_search), np.full(k_search, 0.01, np.float32), steps, rows="grammar")
    log(f"interpreter, mixed seeds (per-lane minibatches): K = {k_search} …")
    rules, lrs = catalog_lanes(k_search, DEFAULT_LEARNING_RATES)
    mixed = time_lanes(task, rules, lrs, steps, seeds=np.arange(k_search), shared_batch=False)

    names = NAIVE_RULES[:1] if quick else NAIVE_RULES
    log(f"naive: build + compile + fit a Keras model per rule, {len(names)} rules …")
    naive = naive_lanes(task, names, steps)

    log("roof again (the best of both measurements is the roof) …")
    roof = max(roof, matmul_gflops(size, repeats))
    for figures in interpreter:
        figures["roof_fraction"] = figures["child_gflops"] / roof

    k_rosenbrock = 16 if quick else 256
    log(f"interpreter: rosenbrock, K = {k_rosenbrock}, {rosenbrock_steps} steps …")
    rosenbrock_rules, rosenbrock_lrs = catalog_lanes(k_rosenbrock, np.logspace(-4, -2, 5))
    rosenbrock = time_lanes(get_task("rosenbrock"), rosenbrock_rules, rosenbrock_lrs, rosenbrock_steps)
    rosenbrock["steps"] = rosenbrock_steps

    config = quick_search_config(1)
    quick_task = get_task(config.reward.task, **config.reward.task_config)
    units, quick_steps = config.space.units, config.reward.steps
    log(f"interpreter, search kernel at the quick preset's {units} units and {quick_steps} steps: K = {k_search} …")
    same_units = time_lanes(quick_task, random_rules(k_search, units), np.full(k_search, 0.01, np.float32),
                            quick_steps, rows="grammar")
    same_units.update(units=units, steps=quick_steps)

    samples = 32 if quick else 256
    log(f"end to end: nos search, quick preset, random controller, {samples} samples, cold then warm …")
    whole = end_to_end(samples, search["lanes_per_second"] * steps * flops,
                       same_units["lanes_per_second"] * quick_steps * child_flops(quick_task))

    return {
        "task": task.name,
        "steps": steps,
        "batch_size": task.batch_size,
        "flops_per_lane_step": flops,
        "flops_formula": FLOPS_FORMULA,
        "matmul_gflops": roof,
        "interpreter": interpreter,
        "lanes_per_second": best["lanes_per_second"],
        "best_k": best["k"],
        "compile_seconds": best["compile_seconds"],
        "roof_fraction": best["roof_fraction"],
        "search_kernel": search,
        "search_kernel_same_units": same_units,
        "mixed_seeds": mixed,
        "naive": naive,
        "speedup": best["lanes_per_second"] / naive["lanes_per_second"],
        "rosenbrock": rosenbrock,
        "end_to_end": whole,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "quick": quick,
    }


def report(figures: dict) -> str:
    """The figures as readable text."""
    lines = [
        f"task {figures['task']}, {figures['steps']} steps, batch {figures['batch_size']}",
        f"roof: float32 matmul {figures['matmul_gflops']:.1f} GFLOP/s",
        f"child FLOPs per lane-step: {figures['flops_per_lane_step'] / 1e6:.3f} M ({figures['flops_formula']})",
        "interpreter (catalog rules × learning-rate grid, evaluate kernel, seed 0: shared batch):",
    ]
    for f in figures["interpreter"]:
        lines.append(
            f"  K={f['k']:<4d} {f['lanes_per_second']:8.1f} rule-lanes/s  {f['child_gflops']:6.1f} GFLOP/s "
            f"= {100 * f['roof_fraction']:5.1f}% of roof  (compile {f['compile_seconds']:.1f} s)"
        )
    s = figures["search_kernel"]
    lines.append(f"  search kernel (whole grammar, random 3-unit rules) K={s['k']}: "
                 f"{s['lanes_per_second']:.1f} rule-lanes/s (compile {s['compile_seconds']:.1f} s)")
    u = figures["search_kernel_same_units"]
    lines.append(f"  search kernel at the quick preset's {u['units']} units, {u['steps']} steps, K={u['k']}: "
                 f"{u['lanes_per_second']:.1f} rule-lanes/s (compile {u['compile_seconds']:.1f} s)")
    m = figures["mixed_seeds"]
    lines.append(f"  mixed seeds (K different seeds, per-lane minibatches) K={m['k']}: "
                 f"{m['lanes_per_second']:.1f} rule-lanes/s (compile {m['compile_seconds']:.1f} s)")
    n = figures["naive"]
    lines.append(f"naive (build + compile + fit per rule, {n['optimizer']}): {n['lanes_per_second']:.2f} rule-lanes/s "
                 f"({n['seconds'] / len(n['rules']):.2f} s per rule)")
    lines.append(f"speedup: {figures['speedup']:.1f}x the naive path (K={figures['best_k']}); "
                 f"{100 * figures['roof_fraction']:.1f}% of the matmul roof")
    r = figures["rosenbrock"]
    lines.append(f"rosenbrock, {r['steps']} steps, K={r['k']}: {r['lanes_per_second']:.1f} rule-lanes/s "
                 f"(compile {r['compile_seconds']:.1f} s)")
    e = figures["end_to_end"]
    lines.append(f"end to end (nos search, {e['preset']} preset, {e['controller']} controller, {e['samples']} samples, "
                 "each run in a fresh process):")
    for name, run in (("cold (empty compile cache)", e["cold"]), ("warm (loops from the cache)", e)):
        split = ", ".join(f"{key} {value:.1f}" for key, value in run["split_seconds"].items())
        lines.append(f"  {name}: {run['rules_trained']} trained, {run['cache_hits']} cached, {run['invalid']} invalid "
                     f"= {100 * run['invalid_fraction']:.0f}%; {run['lanes_per_second']:.1f} lanes/s at {run['steps']} "
                     f"steps = {100 * run['kernel_fraction']:.1f}% of the search kernel's rate, "
                     f"{100 * run['same_units_kernel_fraction']:.1f}% of the same-units kernel's; "
                     f"{run['seconds']:.1f} s: {split}")
    lines.append(f"peak memory (maxrss): {figures['peak_memory_mb']:.0f} MB")
    return "\n".join(lines)
