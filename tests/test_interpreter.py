"""The batched interpreter: encoding, selection kernel, compiled loop and lanes, against references.

The kernel runs eagerly here (no compile); the loop tests compile a handful of small XLA
programs (rosenbrock, quadratic, one mlp_digits) and share them through module fixtures.
"""


import numpy as np
import pytest
import tensorflow as tf

from nos.engine.interpreter import TRACES, RowTable, encode, run_lanes
from nos.engine.interpreter import xp as tfnp
from nos.engine.interpreter.encoding import pad_programs
from nos.engine.interpreter.kernel import LaneContext, direction, lane_keys, step_keys
from nos.engine.interpreter.lanes import GROW_TO_FULL, choose_table, plan_chunks
from nos.engine.interpreter.loop import compiled_loop, curve_windows
from nos.engine.tasks import get_task
from search_space import CATALOG, GRAMMAR, KNOWN_RULES, Rule, parse
from search_space.context import ema
from search_space.tokens import slot_masks
from search_space.vocabulary import NOISE_STD

CATALOG_NAMES = [entry.name for entry in CATALOG]
P = 48  # parameters per lane in kernel tests


# --- the numpy back end of xp --------------------------------------------------------------------

def test_power_matches_numpy_on_special_values():
    values = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5, 1e-3, -1e-3,
                       100.0, -100.0, 7.0, np.inf, -np.inf, np.nan], np.float32)
    x, y = np.meshgrid(values, values)
    with np.errstate(all="ignore"):
        expected = np.power(x.astype(np.float64), y.astype(np.float64)).astype(np.float32)
    got = tfnp.power(tf.constant(x), tf.constant(y)).numpy()
    subnormal = (expected != 0) & (np.abs(expected) < np.finfo(np.float32).tiny)  # XLA/CPU flush to 0
    same = np.isclose(got, expected, rtol=2e-5, atol=0) & (np.signbit(got) == np.signbit(expected))
    same |= np.isnan(got) & np.isnan(expected)
    assert (same | subnormal).all(), list(zip(x[~same], y[~same], got[~same], expected[~same]))


# --- encoding ------------------------------------------------------------------------------------

def test_encoding_names_rows_and_pads_with_pass_through_units():
    rule = KNOWN_RULES["powersign"]  # u0 = sign(g)*sign(m); u1 = exp(u0)*g
    program = encode([rule], units=4)[0]
    names = [row.name for row in GRAMMAR.operands]
    unary = [row.name for row in GRAMMAR.unary]
    binary = [row.name for row in GRAMMAR.binary]
    n = len(names)
    assert program[0].tolist() == [names.index("sign(g)"), names.index("sign(m)"), unary.index("id"),
                                   unary.index("id"), binary.index("mul")]
    assert program[1].tolist() == [n + 0, names.index("g"), unary.index("exp"), unary.index("id"), binary.index("mul")]
    keep = [unary.index("id"), unary.index("id"), binary.index("keep")]
    assert program[2].tolist() == [n + 1, 0, *keep]
    assert program[3].tolist() == [n + 2, 0, *keep]
    assert np.array_equal(pad_programs(encode([rule]), 4), encode([rule], units=4))


def test_row_table_covers_what_it_was_built_from():
    programs = encode([KNOWN_RULES["sgd"], KNOWN_RULES["adam"]], units=2)
    table = RowTable.of(programs)
    assert table.covers(programs)
    assert not table.covers(encode([KNOWN_RULES["momentum"]], units=2))
    assert table.state == ("m", "v") and not table.stochastic
    full = RowTable.full(GRAMMAR, 2)
    assert full.covers(encode([KNOWN_RULES["powersign"], parse("drop(noise, 0.3)*g")], units=2))
    assert full.stochastic and full.state == ("m", "v", "y")
    assert table.union(full) == full


def test_a_rule_of_another_grammar_is_refused():
    small = GRAMMAR.subset(operands=["g", "m"])
    with pytest.raises(ValueError, match="grammar"):
        encode([parse("m", small)], grammar=GRAMMAR)


def test_auto_row_tables_reuse_grow_and_end_at_the_whole_grammar():
    small = encode([KNOWN_RULES["sgd"], KNOWN_RULES["adam"]])
    table = choose_table("auto", small, GRAMMAR)
    assert table == RowTable.of(small)
    assert choose_table("auto", encode([KNOWN_RULES["adam"]]), GRAMMAR, [table]) is table
    bigger = choose_table("auto", encode([KNOWN_RULES["powersign"]]), GRAMMAR, [table])
    assert bigger.units == 2 and bigger.covers(pad_programs(small, 2)) and bigger != RowTable.full(GRAMMAR, 2)
    generator = np.random.default_rng(0)
    masks = slot_masks(GRAMMAR, 2)
    many = [Rule.from_tokens([int(generator.choice(np.flatnonzero(m))) for m in masks]) for _ in range(200)]
    programs = encode(many, 2)
    assert RowTable.of(programs).size >= GROW_TO_FULL * RowTable.full(GRAMMAR, 2).size
    assert choose_table("auto", programs, GRAMMAR, [bigger]) == RowTable.full(GRAMMAR, 2)
    assert choose_table("exact", small, GRAMMAR, [RowTable.full(GRAMMAR, 2)]) == table


# --- the kernel against the numpy reference ------------------------------------------------------

def _inputs(seed=0, lanes=1):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((lanes, P)) * 10.0 ** rng.uniform(-2, 0.5, (lanes, P))
    m = 0.5 * g + 0.1 * rng.standard_normal((lanes, P))
    v = m * m + np.abs(rng.standard_normal((lanes, P))) * 0.1
    y = rng.standard_normal((lanes, P)) * 0.3
    w = rng.standard_normal((lanes, P))
    return {k: a.astype(np.float32) for k, a in {"g": g, "m": m, "v": v, "y": y, "w": w}.items()}


def _kernel(rules, units, table=None, t=7.0, decay_steps=20.0, seeds=None, grammar=GRAMMAR):
    inputs = _inputs(lanes=len(rules))
    programs = encode(rules, units, grammar)
    table = table or RowTable.of(programs, grammar)
    keys = None if seeds is None else step_keys(lane_keys(tf.constant(seeds, tf.int32)), 3)
    ctx = LaneContext(t=tf.constant(t), decay_steps=tf.constant(decay_steps), keys=keys,
                      **{k: tf.constant(v) for k, v in inputs.items()})
    return direction(tf.constant(programs), ctx, table).numpy(), inputs


def _reference(rule, inputs, lane, t=7.0, decay_steps=20.0):
    fields = {k: v[lane].astype(np.float64) for k, v in inputs.items()}
    return rule.numpy_update(fields.pop("g"), t=t, decay_steps=decay_steps, **fields)


def _assert_matches(got, expected, what, rtol=2e-4, atol=1e-6):
    finite = np.isfinite(expected) & (np.abs(expected) < 1e30)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=atol, err_msg=what)
    assert np.array_equal(np.isnan(got[~finite]), np.isnan(expected[~finite])) or not (~finite).any()


@pytest.mark.parametrize("units", [None, 6], ids=["own length", "padded to 6 units"])
def test_kernel_computes_every_catalog_rule_like_numpy(units):
    rules = [KNOWN_RULES[name] for name in CATALOG_NAMES]
    d, inputs = _kernel(rules, units)
    for lane, (name, rule) in enumerate(zip(CATALOG_NAMES, rules)):
        _assert_matches(d[lane], _reference(rule, inputs, lane), name)


def test_kernel_with_the_whole_grammar_computes_random_programs_like_numpy():
    generator = np.random.default_rng(3)
    masks = slot_masks(GRAMMAR, 3)
    rules = []
    while len(rules) < 24:
        rule = Rule.from_tokens([int(generator.choice(np.flatnonzero(m))) for m in masks])
        if not rule.stochastic:
            rules.append(rule)
    # float32 β = 0.999 is 0.99900001287: 1 − β^t is off by ~1e-5 relative, which exp(v) and
    # 1 − v amplify; t = 150 keeps that small, and the tolerance allows it
    d, inputs = _kernel(rules, 3, table=RowTable.full(GRAMMAR, 3), t=150.0, decay_steps=300.0, seeds=[0] * len(rules))
    for lane, rule in enumerate(rules):
        with np.errstate(all="ignore"):
            expected = _reference(rule, inputs, lane, t=150.0, decay_steps=300.0)
            _assert_matches(d[lane], expected, str(rule), rtol=1e-3, atol=1e-4)


def test_random_rows_are_reproducible_lane_independent_and_distributed_as_stated():
    rules = [parse("noise"), parse("noise"), parse("noise"), parse("drop(g, 0.3)")]
    seeds = [5, 5, 6, 5]
    table = RowTable.full(GRAMMAR, 1)
    first, inputs = _kernel(rules, 1, table=table, seeds=seeds)
    again, _ = _kernel(rules, 1, table=table, seeds=seeds)
    alone, _ = _kernel(rules[2:3], 1, table=table, seeds=seeds[2:3])
    assert np.array_equal(first, again)
    assert np.array_equal(first[0], first[1]) and not np.array_equal(first[0], first[2])
    np.testing.assert_allclose(first[2], alone[0], rtol=1e-6)
    kept = first[3] != 0
    np.testing.assert_allclose(first[3][kept], inputs["g"][3][kept] / 0.7, rtol=1e-6)

    many, _ = _kernel([parse("noise")] * 64, 1, table=table, seeds=list(range(64)))
    assert abs(many.mean()) < 0.01 and abs(many.std() - NOISE_STD) < 0.005
    dropped, _ = _kernel([parse("drop(g, 0.3)")] * 64, 1, table=table, seeds=list(range(64)))
    assert abs((dropped == 0).mean() - 0.3) < 0.02


# --- the compiled loop ---------------------------------------------------------------------------

ROSENBROCK_STEPS = 300
LEARNING_RATES = {"adam": 2e-2, "rmsprop": 2e-2, "sign_sgd": 2e-3, "signum": 2e-3}  # rules scaling g: 1e-4


def _rosenbrock_gradient(p):
    x, y = p
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


def _rosenbrock(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def _numpy_trajectory(rule, lr, steps):
    """The numpy reference loop: float32 parameters, float64 rule; returns final params and losses."""
    p = np.array([-2.39, -1.57], np.float32)
    m = v = y = np.zeros(2)
    losses = []
    for s in range(steps):
        w = p.astype(np.float64)
        losses.append(_rosenbrock(w))
        g = _rosenbrock_gradient(w)
        m, v, y = ema(m, g, 0.9), ema(v, g * g, 0.999), ema(y, g * g * g, 0.999)
        d = rule.numpy_update(g, w=w, m=m, v=v, y=y, t=s + 1, decay_steps=steps)
        p = (p - lr * d).astype(np.float32)
    return p, np.array(losses)


def test_a_row_added_to_the_grammar_runs_in_a_lane_like_numpy():
    from tests.test_grammar_rows import TANH_RULE

    d, inputs = _kernel([TANH_RULE], None, grammar=TANH_RULE.grammar)  # m of order 0.3: tanh is not saturated
    _assert_matches(d[0], _reference(TANH_RULE, inputs, 0), str(TANH_RULE))
    result = run_lanes("rosenbrock", [TANH_RULE], 2e-3, 0, ROSENBROCK_STEPS, curve_points=7, keep_params=True)
    expected, _ = _numpy_trajectory(TANH_RULE, 2e-3, ROSENBROCK_STEPS)
    assert np.linalg.norm(expected - [-2.39, -1.57]) > 0.05, "the reference should move"
    np.testing.assert_allclose(result.params[0], expected, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def catalog_on_rosenbrock():
    lrs = [LEARNING_RATES.get(name, 1e-4) for name in CATALOG_NAMES]
    result = run_lanes("rosenbrock", CATALOG_NAMES, lrs, 0, ROSENBROCK_STEPS, curve_points=7, keep_params=True)
    return result, lrs


@pytest.mark.parametrize("name", CATALOG_NAMES)
def test_lane_matches_the_numpy_reference_loop_on_rosenbrock(catalog_on_rosenbrock, name):
    result, lrs = catalog_on_rosenbrock
    lane = CATALOG_NAMES.index(name)
    expected, _ = _numpy_trajectory(KNOWN_RULES[name], lrs[lane], ROSENBROCK_STEPS)
    assert not result.diverged[lane]
    assert np.linalg.norm(expected - [-2.39, -1.57]) > 0.05, "the reference should move"
    np.testing.assert_allclose(result.params[lane], expected, rtol=1e-4, atol=1e-5)


def test_curve_is_the_mean_training_loss_of_each_window(catalog_on_rosenbrock):
    result, lrs = catalog_on_rosenbrock
    lane = CATALOG_NAMES.index("adam")
    _, losses = _numpy_trajectory(KNOWN_RULES["adam"], lrs[lane], ROSENBROCK_STEPS)
    points, stride = curve_windows(ROSENBROCK_STEPS, 7)
    ends = [stride * (c + 1) for c in range(points - 1)] + [ROSENBROCK_STEPS]
    starts = [0] + ends[:-1]
    assert result.curve_steps.tolist() == ends
    expected = [losses[a:b].mean() for a, b in zip(starts, ends)]
    np.testing.assert_allclose(result.curves[lane], expected, rtol=1e-3)
    assert result.final_loss[lane] == result.curves[lane, -1]
    np.testing.assert_allclose(result.validation["loss"][lane], _rosenbrock(result.params[lane]), rtol=1e-5)
    assert (result.steps_run == ROSENBROCK_STEPS).all()


BOMBS = ["exp(g2)*g3", "exp(exp(g2))*g"]  # overflow once some |g| > 9.4 (resp. 2.1), whatever its sign


@pytest.fixture(scope="module")
def bomb_batches():
    """Quadratic task, K = 8: PowerSign lanes at even positions, bombs (or SGD) at odd ones."""
    powersign = ["powersign"] * 4
    with_bombs = [r for pair in zip(powersign, BOMBS * 2) for r in pair]
    with_sgd = [r for pair in zip(powersign, ["sgd"] * 4) for r in pair]
    lrs = [0.001, 0.01, 0.003, 0.01, 0.002, 0.01, 0.0005, 0.01]
    seeds = [0, 1, 2, 3, 4, 5, 6, 7]
    rules = [parse(t) if t not in KNOWN_RULES else KNOWN_RULES[t] for t in with_bombs + with_sgd]
    table = RowTable.of(encode(rules))
    run = lambda texts: run_lanes("quadratic", texts, lrs, seeds, 40, curve_points=8, keep_params=True, rows=table)
    return run(with_bombs), run(with_sgd)


def test_only_bomb_lanes_diverge_and_stay_frozen_and_finite(bomb_batches):
    bombs, sgd = bomb_batches
    assert bombs.diverged.tolist() == [False, True] * 4
    assert not sgd.diverged.any()
    assert np.isfinite(bombs.params).all()
    odd = slice(1, None, 2)
    assert np.isnan(bombs.validation["loss"][odd]).all() and np.isnan(bombs.final_loss[odd]).all()
    assert (bombs.steps_run[odd] < 40).all() and (bombs.steps_run[::2] == 40).all()
    for lane in range(1, 8, 2):
        last_good = np.searchsorted(bombs.curve_steps, bombs.steps_run[lane], side="right")
        assert np.isnan(bombs.curves[lane, last_good:]).all()


def test_other_lanes_are_bit_identical_whatever_their_neighbours_do(bomb_batches):
    bombs, sgd = bomb_batches
    even = slice(0, None, 2)
    assert np.array_equal(bombs.params[even], sgd.params[even])
    assert np.array_equal(bombs.curves[even], sgd.curves[even])
    assert np.array_equal(bombs.validation["loss"][even], sgd.validation["loss"][even])


def test_a_new_batch_of_rules_does_not_retrace():
    table = RowTable.full(GRAMMAR, 2)
    first = ["powersign", "g*sign(m)", "noise + g", "drop(adam, 0.5)"]
    second = ["sgd", "rmsprop", "exp(y)*g3", "log(abs(v))*clip(g, 0.001)"]
    before = sum(TRACES.values())
    a = run_lanes("rosenbrock", first, 1e-4, [0, 1, 2, 3], 5, rows=table)
    after_first = sum(TRACES.values())
    b = run_lanes("rosenbrock", second, 1e-4, [0, 1, 2, 3], 5, rows=table)
    c = run_lanes("rosenbrock", ["adam", "momentum", "sgd", "signum"], 1e-4, 7, 5)  # "auto" reuses it
    d = run_lanes("rosenbrock", ["sgd", "g", "m", "v"], 1e-4, 7, 5, rows="grammar")  # 1 unit, padded to 2
    assert after_first == before + 1
    assert sum(TRACES.values()) == after_first, "a second batch of the same shapes must reuse the loop"
    assert a.table == b.table == c.table == d.table == table
    assert not np.array_equal(a.validation["loss"], b.validation["loss"])


def test_the_row_table_does_not_change_the_numbers():
    """A search trains on the whole grammar's table; `nos evaluate` on the rows its rules use."""
    rules = ["powersign", "g*sign(m)", "exp(y)*g3", "adam", "log(abs(v))*clip(g, 0.001)", "addsign"]
    exact = run_lanes("mlp_digits", rules, 0.01, 0, 20, rows="exact")
    full = run_lanes("mlp_digits", rules, 0.01, 0, 20, rows=RowTable.full(GRAMMAR, 4))
    assert exact.table.size < full.table.size
    np.testing.assert_array_equal(exact.curves, full.curves)
    np.testing.assert_array_equal(exact.validation["loss"], full.validation["loss"])


def test_reuse_shapes_pads_a_small_call_into_a_compiled_loop_with_the_same_numbers():
    table = RowTable.full(GRAMMAR, 2)
    rules = ["powersign", "g*sign(m)", "noise + g", "drop(adam, 0.5)", "sgd"]
    run_lanes("quadratic", rules, 1e-2, 7, 9, rows=table)  # K = 8
    before = sum(TRACES.values())
    padded = run_lanes("quadratic", rules[:3], 1e-2, 7, 9, rows=table, reuse_shapes=True)
    assert sum(TRACES.values()) == before, "three lanes must run in the compiled K = 8 loop"
    alone = run_lanes("quadratic", rules[:3], 1e-2, 7, 9, rows=table)  # compiles K = 4
    assert sum(TRACES.values()) == before + 1
    assert np.array_equal(padded.curves, alone.curves)
    assert np.array_equal(padded.validation["loss"], alone.validation["loss"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="steps"):
        run_lanes("rosenbrock", ["sgd"], 0.1, 0, 0)
    with pytest.raises(ValueError, match="rows"):
        run_lanes("rosenbrock", ["sgd"], 0.1, 0, 3, rows="some")
    with pytest.raises(ValueError, match="cover"):
        run_lanes("rosenbrock", ["adam"], 0.1, 0, 3, rows=RowTable.of(encode([KNOWN_RULES["sgd"]])))


# --- seed-grouped chunks and the shared-batch path ----------------------------------------------

@pytest.mark.parametrize("seeds, per_chunk, shared, size, chunks", [
    ([0, 0, 0, 0, 0], 4, True, 4, [[0, 1, 2, 3], [4]]),
    ([0, 1, 0, 2, 1], 4, True, 2, [[0, 2], [1, 4], [3]]),
    ([5, 5, 3, 5, 3, 5], 2, True, 2, [[0, 1], [3, 5], [2, 4]]),
    ([0, 1, 0, 2, 1], 4, False, 4, [[0, 1, 2, 3], [4]]),
    ([0, 1, 0, 2, 1], 8, False, 8, [[0, 1, 2, 3, 4]]),
])
def test_plan_chunks_groups_lanes_by_seed(seeds, per_chunk, shared, size, chunks):
    got_size, got = plan_chunks(seeds, per_chunk, shared)
    assert got_size == size and [c.tolist() for c in got] == chunks


MLP_LANES = (["adam", "powersign", "sgd", "drop(g, 0.3)", "addsign_ld", "momentum"],
             [0.003, 0.01, 0.3, 0.3, 0.01, 0.1])


@pytest.fixture(scope="module")
def mlp_paths():
    """mlp_digits, every lane on seed 2, trained on the shared-batch path and on the per-lane one."""
    from nos.engine.tasks import get_task

    task = get_task("mlp_digits", batch_size=32)
    rules, lrs = MLP_LANES
    run = lambda shared: run_lanes(task, rules, lrs, 2, 30, curve_points=3, keep_params=True, shared_batch=shared)
    return task, run(True), run(False)


def test_shared_batch_path_trains_like_per_lane_minibatches(mlp_paths):
    _, shared, per_lane = mlp_paths
    assert not shared.diverged.any() and not per_lane.diverged.any()
    np.testing.assert_allclose(shared.params, per_lane.params, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(shared.validation["loss"], per_lane.validation["loss"], rtol=1e-4)
    np.testing.assert_allclose(shared.curves, per_lane.curves, rtol=1e-4)


def test_random_draws_follow_the_flat_parameter_not_its_training_column(mlp_paths):
    """drop(g, 0.3) with plain SGD underneath: after one step exactly the dropped weights are unmoved."""
    from nos.engine.layouts.supervised import SupervisedLayout

    task = mlp_paths[0]
    flat = SupervisedLayout(task)  # the same task in flat order, through the task's own logits
    start = task.init_params(tf.constant([2]))[0].numpy()
    moved = [run_lanes(task, [rule], 0.1, 2, 1, keep_params=True, layout=layout).params[0] != start
             for layout, rule in ((None, "drop(g, 0.3)"), (flat, "drop(g, 0.3)"), (None, "g"))]
    assert 0.65 < moved[0][moved[2]].mean() < 0.75 and not moved[0][~moved[2]].any()
    np.testing.assert_array_equal(moved[0], moved[1])


def test_seed_grouped_results_come_back_in_the_given_order():
    from nos.engine.tasks import get_task

    task = get_task("mlp_digits", batch_size=32)
    rules, lrs, seeds = ["adam", "sgd", "powersign", "adam"], [0.01, 0.3, 0.01, 0.003], [4, 5, 4, 5]
    mixed = run_lanes(task, rules, lrs, seeds, 10, keep_params=True)
    for seed in (4, 5):
        lanes = [i for i, s in enumerate(seeds) if s == seed]
        alone = run_lanes(task, [rules[i] for i in lanes], [lrs[i] for i in lanes], seed, 10, keep_params=True)
        np.testing.assert_allclose(mixed.params[lanes], alone.params, rtol=1e-6, atol=1e-7)
    assert not np.allclose(mixed.params[0], mixed.params[3])


def test_a_diverging_lane_leaves_shared_batch_neighbours_bit_identical():
    from nos.engine.tasks import get_task

    task = get_task("mlp_digits", batch_size=32)
    rules = ["powersign", "sgd", "adam", "sgd"]
    safe, bombs = [0.01, 0.1, 0.003, 0.1], [0.01, 3e38, 0.003, 3e38]  # lr·g overflows: diverges at once
    runs = [run_lanes(task, rules, lrs, 0, 20, keep_params=True, shared_batch=True) for lrs in (safe, bombs)]
    assert runs[1].diverged.tolist() == [False, True, False, True] and not runs[0].diverged.any()
    assert np.array_equal(runs[0].params[::2], runs[1].params[::2])
    assert np.array_equal(runs[0].curves[::2], runs[1].curves[::2])


# --- against RuleOptimizer, the Keras optimizer for the same rule -------------------------------

MLP_STEPS = 50


def test_lane_matches_rule_optimizer_on_mlp_digits():
    import keras

    from nos import RuleOptimizer
    from nos.engine.tasks import get_task

    task = get_task("mlp_digits")
    rules, lr, seed = ["powersign", "adam", "addsign_ld"], 0.01, 3
    lanes = run_lanes(task, rules, lr, seed, MLP_STEPS, keep_params=True)
    for lane, name in enumerate(rules):
        model = task.keras_model()
        model.set_weights(task.unflatten(task.init_params(tf.constant([seed]))[0].numpy()))
        optimizer = RuleOptimizer(KNOWN_RULES[name], learning_rate=lr, decay_steps=MLP_STEPS)
        loss_fn = task.keras_loss()
        for step in range(MLP_STEPS):
            index = task.minibatch_indices(tf.constant(step), tf.constant([seed]))[0]
            x, y = tf.gather(task.data.x_train, index), tf.gather(task.data.y_train, index)
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        expected = task.flatten([keras.ops.convert_to_numpy(w) for w in model.weights])
        start = task.init_params(tf.constant([seed]))[0].numpy()
        assert np.abs(expected - start).max() > 1e-2, "training should move the weights"
        np.testing.assert_allclose(lanes.params[lane], expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_compiled_loop_pins_no_device_so_an_accelerator_runs_it_when_present():
    """One XLA cluster (``jit_compile``) and no op or loop-body op placed by hand: TensorFlow's
    placer then puts the whole loop on a GPU when one is visible, and on the CPU here."""
    function = compiled_loop(get_task("quadratic"), 4, 5, 1, RowTable.full(GRAMMAR, 1)).get_concrete_function()
    graph = function.graph.as_graph_def()
    assert function.function_def.attr["_XlaMustCompile"].b
    assert graph.library.function  # the while loop's body and condition
    assert {node.device for node in graph.node} | {
        node.device for body in graph.library.function for node in body.node_def
    } == {""}
