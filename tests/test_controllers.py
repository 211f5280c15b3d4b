"""Controllers: the search space, the shared protocol over every controller, and learning."""

import itertools
import math

import numpy as np
import pytest

from controllers import SearchSpace, load_controller, make_controller
from nos.search.target_reward import TargetReward
from search_space import GRAMMAR, KNOWN_RULES, parse

SMALL = GRAMMAR.subset(
    operands=["g", "m", "sign(g)", "sign(m)", "1", "2"],
    unary=["id", "exp", "neg", "sign"],
    binary=["add", "mul", "sub", "keep"],
)
TINY = GRAMMAR.subset(operands=["g", "1"], unary=["id"], binary=["add", "keep"])

UNDER_TEST = [  # name, config
    ("random", {}),
    ("evolution", {"population_size": 8, "tournament_size": 3}),
    ("rnn", {"hidden_size": 32}),
    ("rnn", {"algorithm": "ppo", "hidden_size": 32, "ppo_minibatches": 2, "max_grad_norm": 1.0}),
    ("random", {"require_gradient": True}),
    ("rnn", {"hidden_size": 32, "require_gradient": True}),
]
IDS = ["random", "evolution", "rnn-reinforce", "rnn-ppo", "random-masked", "rnn-masked"]


def rewards_for(rules):
    """A deterministic, rule-dependent reward in [0, 1]."""
    return [(sum(rule.tokens) % 7) / 6 for rule in rules]


# --- the search space --------------------------------------------------------------------------


def test_space_size_and_vocabulary_match_a_hand_count():
    space = SearchSpace(SMALL, units=2)
    # unit 0: 6 operands², 4 unary², 4 binary; unit 1: (6 operands + u0)², 4², 4
    assert space.size == (6 * 6 * 4 * 4 * 4) * (7 * 7 * 4 * 4 * 4) == 7_225_344
    assert space.vocabulary == (
        "g",
        "m",
        "sign(g)",
        "sign(m)",
        "1",
        "2",
        "id",
        "neg",
        "exp",
        "sign",
        "add",
        "sub",
        "mul",
        "keep",
        "u0",
    )
    assert space.length == 10 and space.masks.shape == (10, 15)


def test_samples_are_legal_uniform_per_slot_and_decode_to_their_tokens():
    space = SearchSpace(SMALL, units=2)
    rng = np.random.default_rng(0)
    samples = np.array([space.sample(rng) for _ in range(3000)])
    assert space.masks[np.arange(space.length), samples].all()
    for slot, legal in enumerate(space.legal):
        counts = np.bincount(samples[:, slot], minlength=space.vocabulary_size)[legal]
        expected = len(samples) / len(legal)
        assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected)), (slot, counts)
    for tokens in samples[:50]:
        assert space.decode(tokens).tokens == tuple(tokens)


@pytest.mark.parametrize("units", [1, 2, 3])
def test_require_gradient_draws_programs_whose_output_reads_the_gradient(units):
    """Uniform draws: about a third fail the validity checks, most for no gradient dependence;
    under the gradient masks every output reads g by construction, and few fail."""
    from search_space import rule_problem

    space = SearchSpace(GRAMMAR, units=units)
    failed = {}
    for require_gradient in (False, True):
        rng = np.random.default_rng(units)
        programs = [space.sample(rng, require_gradient) for _ in range(400)]
        problems = [rule_problem(space.decode(p)) for p in programs]
        failed[require_gradient] = sum(p is not None for p in problems) / len(problems)
        if require_gradient:
            assert all(space.reads_gradient_units(p)[-1] for p in programs)
            # structure is not algebra: (g - g)·2 reads g and cancels it; that is rare
            assert problems.count("the update does not depend on the gradient") <= 4
            masks = space.gradient_masks_of(programs)
            assert masks[np.arange(len(programs))[:, None], np.arange(space.length), np.array(programs)].all()
    assert failed[False] > 0.25 and failed[True] < 0.15, failed


def test_require_gradient_draws_uniformly_within_the_narrowed_masks():
    space = SearchSpace(SMALL, units=2)
    rng = np.random.default_rng(3)
    programs = np.array([space.sample(rng, require_gradient=True) for _ in range(6000)])
    op1, op2, binary = programs[:, 5], programs[:, 6], programs[:, 9]
    free = np.array([space.reads_gradient_units(p[:5])[0] for p in programs])  # u0 reads g
    op1_reads = space.reads_gradient[op1] | ((op1 == space.vocabulary.index("u0")) & free)
    narrowed = programs[~op1_reads & free]  # op2 drawn from the readers g, m, sign(g), sign(m), u0
    readers = [space.vocabulary.index(name) for name in ("g", "m", "sign(g)", "sign(m)", "u0")]
    counts = np.bincount(narrowed[:, 6], minlength=space.vocabulary_size)
    assert counts.sum() == counts[readers].sum() > 500
    expected = len(narrowed) / len(readers)
    assert np.all(np.abs(counts[readers] - expected) < 5 * math.sqrt(expected)), counts[readers]
    assert not np.any(binary[~op1_reads] == space.vocabulary.index("keep"))
    assert np.any(binary[op1_reads] == space.vocabulary.index("keep"))
    assert np.any(~space.reads_gradient[op2[op1_reads]])  # unconstrained where op1 reads g


def test_mutation_changes_exactly_one_slot_to_another_legal_token():
    space = SearchSpace(SMALL, units=2)
    rng = np.random.default_rng(1)
    changed_slots = set()
    for _ in range(300):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        differing = [j for j, (a, b) in enumerate(zip(parent, child)) if a != b]
        assert len(differing) == 1
        assert space.masks[differing[0], child[differing[0]]]
        changed_slots.add(differing[0])
    assert changed_slots == set(range(space.length))


@pytest.mark.parametrize("name", ["sgd", "adam", "powersign", "addsign_ld", "signum"])
def test_encode_round_trips_catalog_rules(name):
    space = SearchSpace(GRAMMAR, units=4)
    rule = KNOWN_RULES[name]
    tokens = space.encode(rule)
    assert space.decode(tokens) == rule
    assert space.encode(space.decode(tokens)) == tokens


def test_encode_keeps_a_full_length_program_and_rejects_what_does_not_fit():
    space = SearchSpace(SMALL, units=2)
    rule = space.decode(space.sample(np.random.default_rng(2)))
    assert space.encode(rule) == rule.tokens
    with pytest.raises(ValueError, match="needs 3 units"):
        space.encode(parse("exp(sign(g)*sign(m))*g + m"))
    with pytest.raises(ValueError, match="lacks"):
        space.encode(parse("adam"))


def test_check_names_the_illegal_slot():
    space = SearchSpace(SMALL, units=2)
    tokens = list(space.encode(KNOWN_RULES["powersign"]))
    tokens[2] = 0  # an operand in a unary slot
    with pytest.raises(ValueError, match="token 2 .'g'. is not legal in slot 2"):
        space.decode(tokens)
    with pytest.raises(ValueError, match="10 tokens"):
        space.decode(tokens[:5])


# --- the protocol, over every controller ----------------------------------------------------------


@pytest.mark.parametrize("name, config", UNDER_TEST, ids=IDS)
def test_proposals_are_legal_and_updates_return_finite_namespaced_stats(name, config):
    space = SearchSpace(SMALL, units=2)
    controller = make_controller(name, space, seed=0, **config)
    for _ in range(3):
        rules = controller.propose(12)
        assert len(rules) == 12
        for rule in rules:
            assert space.check(rule.tokens) == rule.tokens
            assert space.decode(rule.tokens) == rule
        stats = controller.update(rules, rewards_for(rules))
        assert stats and all("/" in key and math.isfinite(value) for key, value in stats.items())
        assert stats["controller/reward_mean"] == pytest.approx(np.mean(rewards_for(rules)))
    assert controller.propose(0) == []


@pytest.mark.parametrize("name, config", UNDER_TEST, ids=IDS)
def test_same_seed_same_proposals_other_seed_others(name, config):
    space = SearchSpace(SMALL, units=2)
    first, second, other = (make_controller(name, space, seed=s, **config) for s in (3, 3, 4))
    tokens = lambda c: [r.tokens for r in c.propose(8)]
    assert tokens(first) == tokens(second) != tokens(other)


@pytest.mark.parametrize("name, config", UNDER_TEST, ids=IDS)
def test_a_restored_controller_continues_exactly(name, config, tmp_path):
    space = SearchSpace(SMALL, units=2)
    original = make_controller(name, space, seed=0, **config)
    for _ in range(3):  # fills the evolution population; moves weights, Adam state and baseline
        rules = original.propose(8)
        original.update(rules, rewards_for(rules))
    original.save(tmp_path / "ckpt")

    restored = make_controller(name, space, seed=7, **config)  # a different seed: all must be overwritten
    restored.restore(tmp_path / "ckpt")
    for _ in range(2):
        expected, got = original.propose(8), restored.propose(8)
        assert [r.tokens for r in got] == [r.tokens for r in expected]
        assert restored.update(got, rewards_for(got)) == original.update(expected, rewards_for(expected))

    loaded = load_controller(tmp_path / "ckpt", space)
    assert type(loaded) is type(original) and loaded.seed == 0


@pytest.mark.parametrize("name, config", UNDER_TEST[:3], ids=IDS[:3])
def test_restore_refuses_another_controller_config_or_space(name, config, tmp_path):
    space = SearchSpace(SMALL, units=2)
    make_controller(name, space, seed=0, **config).save(tmp_path)
    other_name = "random" if name != "random" else "evolution"
    with pytest.raises(ValueError, match=f"holds a {name!r} controller"):
        make_controller(other_name, space).restore(tmp_path)
    with pytest.raises(ValueError, match="different search space"):
        make_controller(name, SearchSpace(SMALL, units=3), **config).restore(tmp_path)
    if config:
        key = next(iter(config))
        changed = {**config, key: config[key] + 1}
        with pytest.raises(ValueError, match=f"different config: {key}="):
            make_controller(name, space, **changed).restore(tmp_path)
    with pytest.raises(FileNotFoundError, match="controller.json"):
        make_controller(name, space, **config).restore(tmp_path / "missing")


@pytest.mark.parametrize("name, config", UNDER_TEST[:2], ids=IDS[:2])
def test_update_rejects_mismatched_or_non_finite_rewards(name, config):
    controller = make_controller(name, SearchSpace(SMALL, units=2), **config)
    rules = controller.propose(3)
    with pytest.raises(ValueError, match="3 rules but 2 rewards"):
        controller.update(rules, [0.1, 0.2])
    with pytest.raises(ValueError, match="reward 1 is nan"):
        controller.update(rules, [0.1, float("nan"), 0.2])


def test_registry_names_unknown_controllers_and_options():
    space = SearchSpace(SMALL, units=2)
    with pytest.raises(
        ValueError, match="unknown controller 'lstm'; valid controllers: rnn, random, evolution"
    ):
        make_controller("lstm", space)
    with pytest.raises(
        ValueError, match=r"no option 'population'; valid options: population_size, tournament_size"
    ):
        make_controller("evolution", space, population=3)
    with pytest.raises(ValueError, match="valid options: algorithm, hidden_size"):
        make_controller("rnn", space, lr=0.1)
    with pytest.raises(ValueError, match="no option 'x'; valid options: require_gradient"):
        make_controller("random", space, x=1)


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("evolution", {"population_size": 0}, "population_size must be a positive int"),
        ("evolution", {"population_size": 4, "tournament_size": 5}, "must not exceed"),
        ("rnn", {"algorithm": "a2c"}, "algorithm must be one of reinforce, ppo"),
        ("rnn", {"baseline_decay": 1.0}, r"baseline_decay must be a number in \[0, 1\)"),
        ("rnn", {"learning_rate": -1.0}, "learning_rate must be a positive number"),
        ("rnn", {"credit": "dead"}, "credit must be one of all, live, got 'dead'"),
        ("rnn", {"elite_distinct": "key"}, "elite_distinct must be one of program, reward, got 'key'"),
    ],
)
def test_bad_option_values_are_named(name, config, message):
    with pytest.raises(ValueError, match=message):
        make_controller(name, SearchSpace(SMALL, units=2), **config)


# --- the rnn policy -------------------------------------------------------------------------------


def test_masked_sampling_never_draws_an_illegal_token():
    space = SearchSpace(SMALL, units=2)
    controller = make_controller("rnn", space, seed=0, hidden_size=16)
    head = controller.policy.head
    bias = np.zeros(space.vocabulary_size, np.float32)
    bias[space.vocabulary.index("add") :] = 30.0  # binary words and u0: illegal in most slots
    head.bias.assign(bias)
    tokens, _ = controller.policy.sample(4096)
    tokens = tokens.numpy()
    assert space.masks[np.arange(space.length), tokens].all()
    binary_slots = [4, 9]
    assert np.isin(tokens[:, binary_slots], [10, 11, 12, 13]).all()
    assert (tokens[:, 5:7] == space.vocabulary.index("u0")).mean() > 0.99  # the bias does act where legal


@pytest.mark.parametrize("require_gradient", [False, True])
@pytest.mark.parametrize("units", [1, 2])
def test_policy_probabilities_sum_to_one_and_sampling_follows_them(units, require_gradient):
    space = SearchSpace(TINY, units=units)
    controller = make_controller("rnn", space, seed=1, hidden_size=16, init_scale=1.0,
                                 require_gradient=require_gradient)
    programs = np.array(list(itertools.product(*space.legal)), dtype=np.int32)
    assert len(programs) == space.size
    log_probs, _ = controller.policy.log_probs(programs, np.ones(programs.shape, np.float32))
    probabilities = np.exp(log_probs.numpy().astype(np.float64))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    reads_gradient = np.array([space.reads_gradient_units(p)[-1] for p in programs])
    assert 0 < reads_gradient.sum() < len(programs)
    if require_gradient:  # masked: no mass on programs whose output does not read the gradient
        assert probabilities[~reads_gradient].max() == 0.0

    sampled, sampled_log_probs = controller.policy.sample(20000)
    sampled = sampled.numpy()
    forced, _ = controller.policy.log_probs(sampled, np.ones(sampled.shape, np.float32))
    np.testing.assert_allclose(sampled_log_probs.numpy(), forced.numpy(), atol=1e-4)
    index = {tuple(p): i for i, p in enumerate(programs.tolist())}
    counts = np.bincount([index[tuple(s)] for s in sampled.tolist()], minlength=len(programs))
    expected = len(sampled) * probabilities
    assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected) + 1), (counts, expected)
    assert probabilities.max() > 2 * probabilities.min()  # far enough from uniform to tell


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_an_update_raises_the_probability_of_the_rewarded_rule(algorithm):
    space = SearchSpace(SMALL, units=2)
    controller = make_controller("rnn", space, seed=0, algorithm=algorithm, learning_rate=1e-2)
    rules = controller.propose(16)
    rewards = [1.0] + [0.0] * 15
    before = controller.log_probs(rules)
    controller.update(rules, rewards)
    after = controller.log_probs(rules)
    assert after[0] > before[0] + 0.1
    assert np.mean(after[1:]) < np.mean(before[1:])


# --- learning on the target reward ---------------------------------------------------------------

PAPER_RNN = {"credit": "all", "elite_distinct": "program"}
LEARNERS = [  # (name, config, seeds, margin): evolution and the default rnn vary from seed to seed
    ("rnn", {**PAPER_RNN, "algorithm": "reinforce"}, [0], 0.1),
    ("rnn", {**PAPER_RNN, "algorithm": "ppo"}, [0], 0.1),
    ("rnn", {}, [0, 1, 2, 3, 4], 0.02),
    ("evolution", {"population_size": 32, "tournament_size": 8}, [0, 1, 2, 3, 4], 0.1),
]


@pytest.fixture(scope="module")
def target_reward():
    return TargetReward("powersign")


def search(name, config, reward, batches=60, batch_size=16, seed=0):
    controller = make_controller(name, SearchSpace(SMALL, units=2), seed=seed, **config)
    means = []
    for _ in range(batches):
        rules = controller.propose(batch_size)
        rewards = reward(rules)
        controller.update(rules, rewards)
        means.append(rewards.mean())
    return np.array(means)


def early_and_late(name, config, reward, seeds):
    """Median over seeds of the mean reward of the first 5 and of the last 10 batches."""
    runs = np.array([search(name, config, reward, seed=seed) for seed in seeds])
    return np.median(runs[:, :5].mean(axis=1)), np.median(runs[:, -10:].mean(axis=1))


@pytest.mark.parametrize("name, config, seeds, margin", LEARNERS,
                         ids=["rnn-paper-reinforce", "rnn-paper-ppo", "rnn-default", "evolution"])
def test_controllers_learn_on_the_powersign_target(name, config, seeds, margin, target_reward):
    """Same budget (960 samples): late batches beat early ones and random search on the same seeds.

    Measured (mean reward of the last 10 batches, seeds 0–4; the first 5 batches 0.02–0.06):
    random 0.02–0.05, evolution 0.05–0.34 (median 0.30), the paper's REINFORCE 0.34–0.49 and
    PPO 0.67–0.71 (seeds 0–2; it settles near `g`). The default rnn 0.06–0.13 (median 0.067):
    its elite of distinct rewards keeps the policy spread over several rules, which pays in
    rediscovery (README) and costs mean reward.
    """
    early, late = early_and_late(name, config, target_reward, seeds)
    _, random_late = early_and_late("random", {}, target_reward, seeds)
    assert late > early + margin
    assert late > random_late + margin


def test_the_elite_is_the_best_distinct_positive_programs_and_pulls_the_policy_towards_them():
    space = SearchSpace(SMALL, units=2)
    controller = make_controller("rnn", space, seed=0, elite_size=2, learning_rate=1e-2)
    rules = controller.propose(6)
    assert len({rule.tokens for rule in rules}) == 6  # seed 0 draws six distinct programs
    controller.update(rules, [0.2, 0.9, 0.0, 0.5, 0.7, -0.1])
    assert controller.elite == [(0.9, rules[1].tokens), (0.7, rules[4].tokens)]
    # equal rewards push every sample alike; the elite term still pulls towards the elite
    before = controller.log_probs(rules)
    controller.update(rules, [0.3] * 6)
    after = controller.log_probs(rules)
    assert after[1] > before[1] and after[4] > before[4]


@pytest.mark.parametrize("distinct, expected", [("program", [0.9, 0.9, 0.7]), ("reward", [0.9, 0.7, 0.5])])
def test_an_elite_of_distinct_rewards_keeps_one_program_per_reward(distinct, expected):
    space = SearchSpace(SMALL, units=2)
    controller = make_controller("rnn", space, seed=0, elite_size=3, elite_distinct=distinct)
    rules = controller.propose(6)
    controller.update(rules, [0.2, 0.9, 0.9, 0.5, 0.7, 0.7])
    assert [reward for reward, _ in controller.elite] == expected
    assert controller.elite[0][1] == rules[1].tokens  # the earliest of equal rewards


def test_live_credit_counts_only_the_slots_a_rule_depends_on():
    space = SearchSpace(SMALL, units=2)
    program = space.encode(parse("exp(sign(g)*sign(m))*g", SMALL))
    assert space.live_slots([program]).tolist() == [[True] * 10]
    padded = space.encode(parse("g", SMALL))  # keep(id(g), ·) then the pass-through keep(id(u0), ·)
    assert space.live_slots([padded]).tolist() == [[True, False, True, False, True] * 2]
    g, identity, keep = (space.vocabulary.index(row) for row in ("g", SMALL.identity.name, SMALL.keep_left.name))
    dead_first = [*space.sample(np.random.default_rng(0))[:5], g, g, identity, identity, keep]
    assert space.decode(dead_first) == parse("g", SMALL)  # unit 0 is dead: nothing reads it
    assert space.live_slots([dead_first]).tolist() == [[False] * 5 + [True, False, True, False, True]]
    keep = tuple(dead_first)
    live, full = (make_controller("rnn", space, seed=0, credit=c) for c in ("live", "all"))
    rules = [space.decode(keep)] * 4
    stats = {c: ctl.update(rules, [0.1, 0.2, 0.3, 0.4]) for c, ctl in (("live", live), ("all", full))}
    assert stats["live"]["controller/entropy"] < stats["all"]["controller/entropy"]  # 3 of 10 slots summed


def test_a_capped_elite_term_stops_pulling_and_a_restart_is_a_fresh_deterministic_policy():
    space = SearchSpace(SMALL, units=2)
    capped = make_controller("rnn", space, seed=0, elite_size=2, elite_max_prob=1e-30)
    rules = capped.propose(4)
    stats = capped.update(rules, [0.5, 0.4, 0.3, 0.2])
    assert stats["losses/elite_loss"] == pytest.approx(-np.log(1e-30), rel=1e-5)  # log π(e) > log p_max: no pull

    twins = [make_controller("rnn", space, seed=3, restart_entropy=1e6) for _ in range(2)]
    for controller in twins:
        before = controller.log_probs(rules)
        stats = controller.update(rules, [0.5, 0.4, 0.3, 0.2])
        assert stats["controller/restarts"] == 1.0 and controller.elite == [] and controller.baseline.value is None
        assert not np.allclose(controller.log_probs(rules), before)
    assert [str(r) for r in twins[0].propose(8)] == [str(r) for r in twins[1].propose(8)]
