"""`run_bench`: how fast the batched interpreter trains rules, against the naive way and the roof.

Measured in one process, so that ratios compare like with like on a shared machine:

1. roof: the best GFLOP/s of a float32 n×n matmul (TensorFlow, eager and XLA, best of a few),
   measured before the interpreter and again after the naive path; the higher one counts.
2. interpreter: rule-lanes per second on mlp_digits (T steps, batch 128, 64→32→10 MLP) at each
   K, lanes cycling through the catalog rules and a learning-rate grid, one K-lane chunk per
   call; the compile time (first call minus the best later call) is reported apart. Every lane
   has seed 0, as in a search, so the chunk runs on the shared-batch path (one minibatch per
   step for all lanes, see `nos.engine.interpreter.lanes`). Also, at the largest K: the "search
   kernel" (row table of the whole grammar, random 3-unit rules), and "mixed seeds" (the
   catalog lanes with K different seeds, forced into one chunk on the per-lane-minibatch path,
   ``shared_batch=False``).
3. naive: per rule, build ``task.keras_model()``, compile it with a Keras optimizer for the rule
   (`nos.RuleOptimizer`) and ``fit`` T steps
   of batch 128; rule-lanes per second over a few rules, after one untimed warm-up.
4. rosenbrock: rule-lanes per second of the interpreter at 4000 steps.
5. end to end: a real search (`nos.search.loop.search`: the quick preset without its funnel, random controller,
   a fixed number of samples, a fresh run directory), timed from the call to its return, as
   trained lanes (rules trained × learning rates × seeds) per second and as a fraction of the
   search kernel's child FLOP rate measured in the same run; with its split into the baseline's
   measurement, the steps' propose / evaluate (compile + train + validate) / update / store, and
   the rest (run directory, TensorBoard, leaderboard).

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


def end_to_end(samples: int, kernel_flops_per_second: float) -> dict:
    """Time `nos.search.loop.search` on the quick preset with the random controller for `samples`
    samples in a fresh run directory; see the module docstring (5.)."""
    import tempfile

    from nos.engine.tasks import get_task
    from nos.search.config import from_dict, load_preset
    from nos.search.loop import search

    data = load_preset("quick").to_dict()
    data.update(budget=samples, controller={"name": "random"}, funnel=[])  # the search alone
    config = from_dict(data)
    reward = config.reward
    with tempfile.TemporaryDirectory(prefix="nos-bench-") as directory:
        started = time.perf_counter()
        summary = search(config, directory, progress=False, log=lambda *_: None)
        seconds = time.perf_counter() - started
    lanes = summary.rules_trained * len(reward.learning_rates) * len(reward.seeds)
    flops = lanes * reward.steps * child_flops(get_task(reward.task, **reward.task_config))
    split = dict(summary.seconds)
    split["baseline"] = summary.seconds_baseline
    split["other"] = max(seconds - sum(split.values()), 0.0)
    return {
        "preset": "quick", "controller": "random", "task": reward.task, "steps": reward.steps,
        "samples": summary.samples, "rules_trained": summary.rules_trained, "cache_hits": summary.cache_hits,
        "invalid": summary.invalid, "invalid_fraction": summary.invalid / max(summary.samples, 1),
        "lanes": lanes, "seconds": seconds, "lanes_per_second": lanes / seconds,
        "kernel_fraction": flops / seconds / kernel_flops_per_second, "split_seconds": split,
    }


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

    samples = 32 if quick else 256
    log(f"end to end: nos search, quick preset, random controller, {samples} samples …")
    whole = end_to_end(samples, search["lanes_per_second"] * steps * flops)

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
    split = ", ".join(f"{name} {value:.1f}" for name, value in e["split_seconds"].items())
    lines.append(f"end to end (nos search, {e['preset']} preset, {e['controller']} controller, {e['samples']} samples: "
                 f"{e['rules_trained']} trained, {e['cache_hits']} cached, {e['invalid']} invalid "
                 f"= {100 * e['invalid_fraction']:.0f}%): {e['lanes_per_second']:.1f} lanes/s at {e['steps']} steps "
                 f"= {100 * e['kernel_fraction']:.1f}% of the search kernel's rate; {e['seconds']:.1f} s: {split}")
    lines.append(f"peak memory (maxrss): {figures['peak_memory_mb']:.0f} MB")
    return "\n".join(lines)
