"""Configs: presets load, bad files are one clear error each."""

import pytest

from nos.search.config import (
    PRESETS,
    ConfigError,
    ExecutorConfig,
    SearchConfig,
    from_dict,
    load_config,
    load_preset,
)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_validate(name):
    config = load_preset(name)
    assert isinstance(config, SearchConfig) and config.budget >= 1


def test_rediscover_preset_can_express_powersign_and_addsign_with_decays():
    from nos.search.config import grammar_of
    from search_space import CATALOG, parse

    config = load_preset("rediscover")
    grammar = grammar_of(config.space)
    for entry in CATALOG:
        if entry.name.startswith(("powersign", "addsign")):
            rule = parse(entry.text, grammar)
            assert len(rule) <= config.space.units, entry.name


@pytest.mark.parametrize(
    "text, message",
    [
        ("budget = 'ten'", "budget must be int"),
        ("budgt = 10", "unknown key 'budgt'"),
        ("[reward]\ntask = 3", "reward.task must be str"),
        ("[reward]\nlearning_rates = [0.1, 'x']", r"reward.learning_rates\[1\] must be float"),
        ("[reward]\nlearning_rates = []", "must not be empty"),
        ("[reward]\nsignal = 'accuracy'", "signal must be"),
        ("[reward]\nbaseline = 'nadam'", "not a known rule"),
        ("[space]\nunits = 0", "units must be in"),
        ("[space]\nunary = ['cosh']", "unknown grammar rows"),
        ("[space]\noperands = ['1', '2']", r"space.operands: none depends on the gradient \(g, m, v, y\)"),
        ("[controller]\nname = 'genetic'", "controller.name"),
        ("[surprise]\nx = 1", "unknown key 'surprise'"),
        ("budget = 10\n[space", "not valid TOML"),
        ("space = 3", r"\[space\] must be a table"),
        ("budget = true", "budget must be int"),
        ("seed = -1", r"seed must be in 0..2147483647, got -1"),
        ("batch_size = 5000", "batch_size must be in 1..4,096, got 5000"),
        ("leaderboard = -3", "leaderboard must be at least 1, got -3"),
        ("seed = 2147483648", r"seed must be in 0..2147483647, got 2147483648"),
        (f"batch_size = 1000\n[reward]\nlearning_rates = [0.1, 0.01]\nseeds = {list(range(1000))}",
         r"batch_size × reward.learning_rates × reward.seeds = 2,000,000 lanes a batch is above the limit of 1,000,000"),
        ("[reward]\nlearning_rates = [inf]", "must be positive and finite"),
        ("[reward]\nseeds = [-1]", r"reward.seeds must be in 0..2147483647"),
        ("[executor]\nname = 'dask'", "executor.name must be local or ray, got 'dask'"),
        ("[executor]\naddress = 'auto'", "executor.address 'auto' needs executor.name = 'ray'"),
        ("[executor]\nretries = -1", "executor.retries must be >= 0"),
        ("[executor]\nretries = 1.5", "executor.retries must be int"),
        ("[executor]\ntimeout_seconds = -2", "executor.timeout_seconds must be >= 0"),
        ("[executor]\ntimeout_seconds = nan", "executor.timeout_seconds must be >= 0"),
        ("[executor]\nchunk_size = -1", "executor.chunk_size must be >= 0"),
        ("[executor]\ncpus_per_task = 0", "executor.cpus_per_task must be > 0"),
        ("[executor]\nnum_cpus = -4", "executor.num_cpus must be >= 0"),
        ("[executor]\nadress = 'auto'", "unknown key 'adress' in executor"),
        ("[reward]\ntasks = []", r"reward.tasks must not be empty \(leave it out to use reward.task\)"),
        ("[reward]\ntasks = ['logreg', 'logreg']", r"reward.tasks must be distinct, got \['logreg', 'logreg'\]"),
        ("[reward]\ntasks = ['logreg']\ntask_config = {dim = 3}", "reward.task_config applies to reward.task"),
        ("[reward]\ntasks = ['logreg']\ntask_configs = {quadratic = {}}",
         r"reward.task_configs names tasks not in reward.tasks: \['quadratic'\]"),
        ("[reward]\ntasks = ['logreg']\ntask_configs = {logreg = 3}", "reward.task_configs values must be tables"),
        ("[reward]\ntasks = ['logreg', 'quadratic']\naggregate = 'harmonic'",
         "reward.aggregate must be geometric, arithmetic, min, got 'harmonic'"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_the_executor_section_defaults_to_local_and_reads_ray_settings():
    assert from_dict({}).executor == ExecutorConfig()
    assert ExecutorConfig().name == "local" and ExecutorConfig().timeout_seconds == 0.0
    ray = from_dict({"executor": {"name": "ray", "address": "auto", "chunk_size": 2, "timeout_seconds": 60}})
    assert (ray.executor.name, ray.executor.address, ray.executor.chunk_size) == ("ray", "auto", 2)
    assert ray.executor.timeout_seconds == 60.0


def test_ints_are_accepted_where_floats_are_expected():
    assert from_dict({"reward": {"learning_rates": [1, 0.1]}}).reward.learning_rates == [1.0, 0.1]
