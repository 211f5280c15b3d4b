"""`nos rediscover`: what "found" means, milestones read off in order, the command's outputs."""

import numpy as np
import pytest

from nos.benchmark import rediscover
from nos.cli import main
from search_space import KNOWN_RULES, parse
from search_space.fingerprint import positive_multiple

POWERSIGN, ADDSIGN = KNOWN_RULES["powersign"], KNOWN_RULES["addsign"]


@pytest.mark.parametrize("text, target, scale", [
    ("exp(sign(g)*sign(m))*g", POWERSIGN, 1.0),
    ("exp(sign(g*m))*g", POWERSIGN, 1.0),              # another key, the same function
    ("exp(sign(m))^sign(g)*g", POWERSIGN, 1.0),
    ("2*exp(sign(g)*sign(m))*g", POWERSIGN, 2.0),       # PowerSign once the lr is halved
    ("exp(sign(g)*sign(m) + 1)*g", POWERSIGN, np.e),
    ("-exp(sign(g)*sign(m))*g", POWERSIGN, None),      # a negative multiple ascends
    ("g", POWERSIGN, None),
    ("exp(sign(g)*sign(m))*g*ld", POWERSIGN, None),     # a factor that changes with t is no constant
    ("sign(g)*(sign(g) + sign(m))*g", ADDSIGN, 1.0),
    ("(sign(g)*sign(m) + 1)*(g + g)", ADDSIGN, 2.0),
    ("(sign(g) + sign(m))*g", ADDSIGN, None),
    # zero where AddSign is zero only up to round-off of a huge constant: not AddSign
    ("exp(exp(1)*exp(exp(sign(g))^sign(m)))*2*g", ADDSIGN, None),
])
def test_positive_multiples_are_found_and_nothing_else(text, target, scale):
    found = positive_multiple(parse(text), target)
    assert (found is None) == (scale is None)
    if scale is not None:
        assert found == pytest.approx(scale, rel=1e-9)


def test_milestones_are_met_in_sampling_order_loosest_first():
    recorder = rediscover.Recorder(rediscover.Trial("rnn", 0), rediscover.Matcher({"powersign": POWERSIGN}),
                                   level=0.5)
    texts = ["g", "2*exp(sign(g)*sign(m))*g", "exp(sign(g*m))*g", "exp(sign(m)*sign(g))*g"]
    for seconds, (text, reward) in enumerate(zip(texts, [0.1, 0.6, 0.4, 0.7]), start=1):
        recorder.add(parse(text), reward, float(seconds))
    trial = recorder.trial
    assert trial.first == {"level": 2, "multiple": 2, "function": 3, "key": 4}
    assert trial.seconds_to["function"] == 3.0
    assert trial.found == "2*exp(sign(g)*sign(m))*g (powersign)"
    assert trial.best_curve == [[1, 0.1], [2, 0.6], [4, 0.7]]
    assert rediscover.best_at(trial, 3) == 0.6


def test_a_repeat_never_counts_as_a_first_find():
    recorder = rediscover.Recorder(rediscover.Trial("rnn", 0), rediscover.Matcher({"powersign": POWERSIGN}))
    recorder.add(POWERSIGN, 1.0, 1.0, new=False)
    assert recorder.trial.first == {}


def test_medians_count_unreached_seeds_as_infinite():
    assert rediscover._median([3, 5, None]) == "5*"
    assert rediscover._median([None, None, 4]) == "inf*"
    assert rediscover._median([2, 4]) == "3"


def test_target_mode_finds_sign_sgd_and_reports_it():
    trials = rediscover.target_study("sign_sgd", ["random"], [0], budget=4000, batch_size=64, log=lambda *_: None)
    assert trials[0].reached("function") is not None
    assert trials[0].found.endswith("(sign_sgd)")
    assert np.isclose(trials[0].best_curve[-1][1], 1.0)
    assert rediscover.found_line(trials) == "found in 1/1"


def test_the_command_writes_its_table_found_lines_and_plot(tmp_path, capsys):
    code = main(["rediscover", "--target", "sign_sgd", "--controllers", "random", "evolution", "--seeds", "1",
                 "--budget", "64", "--random-draws", "2000", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "random: found in" in out and "evolution: found in" in out
    assert (tmp_path / "rediscover.md").read_text().startswith("| controller")
    assert (tmp_path / "rediscover.png").stat().st_size > 5000


def test_random_odds_count_the_multiples_a_rule_by_rule_check_counts():
    from controllers import SearchSpace
    from nos.search.config import grammar_of, load_preset
    from search_space.fingerprint import positive_multiple

    config = load_preset("rediscover").space
    space = SearchSpace(grammar_of(config), config.units)
    target = KNOWN_RULES["sign_sgd"]
    odds = rediscover.random_odds(target, space, draws=1500, seed=3, chunk=700)
    rng = np.random.default_rng(3)  # the draws random_odds makes, chunk by chunk
    programs = np.concatenate([rediscover.draw_programs(space, rng, n) for n in (700, 700, 100)])
    expected = sum(positive_multiple(space.decode(p), target) is not None for p in programs)
    assert odds.hits == expected > 10
    assert odds.low < odds.p < odds.high
    assert odds.expected_samples()[0] == pytest.approx(1500 / expected)


def test_the_rank_script_ranks_powersign_and_addsign_among_the_known_rules():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "rank_known_rules.py"
    done = subprocess.run([sys.executable, str(script), "--tasks", "rosenbrock", "--seeds", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| rosenbrock"))
    assert row.count("|") == 6 and row.rstrip().endswith(f"| {len(rediscover.expressible(rediscover.rediscover_space())) + 1} |")
