"""The example programs in scripts/ run as a researcher would run them, with small flags.

Each runs as its own process (``sys.executable scripts/X.py …``) in a temporary directory: the
search over a user-registered task and a grammar subset, the evaluation of its best rule and
catalog rules against Adam, and the export of a rule to a Keras class that trains a model.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from search_space import GRAMMAR, parse

SCRIPTS = Path(__file__).parents[1] / "scripts"
VERDICTS = ("better", "worse", "not distinguishable")
SPACE = {"operands": ["g", "m", "sign(g)", "1"], "unary": ["id", "neg", "sign"], "binary": ["add", "mul"]}


def run_script(name: str, *args: str, cwd: Path, timeout: int = 180) -> str:
    done = subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def text_table(printed: str, first: str, second: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first text table whose columns start with `first`, `second`
    (`nos.text_tables.text_table`: cells split on two or more spaces, a dashed line under the header)."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{first}\s+{second}\s", line))
    header = re.split(r"\s{2,}", lines[start].strip())
    assert set(lines[start + 1].replace(" ", "")) == {"-"}
    rows = []
    for line in lines[start + 2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):  # the table has ended
            break
        rows.append(cells)
    return header, rows


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    """scripts/launch_search.py with a small budget, a 4-operand space and one funnel stage."""
    cwd = tmp_path_factory.mktemp("launch")
    printed = run_script(
        "launch_search.py", "--out", "runs/ls", "--budget", "8", "--batch-size", "8", "--steps", "20",
        "--funnel-top", "2", "--controller", "random", "--operands", *SPACE["operands"], "--unary", *SPACE["unary"],
        "--binary", *SPACE["binary"], cwd=cwd)
    return cwd, printed


def test_launch_search_searches_the_registered_task_in_the_chosen_space(search_run):
    cwd, printed = search_run
    config = json.loads((cwd / "runs/ls/config.json").read_text())
    assert config["reward"]["task"] == "least_squares" and config["funnel"][0]["top"] == 2
    assert config["space"]["operands"] == SPACE["operands"]
    header, rows = text_table(printed, "rank", "rule")
    assert header[:4] == ["rank", "rule", "reward", "stage 1"]  # ranked by the funnel stage
    assert rows and rows[0][0] == "1" and rows[0][3] != "-"
    assert "8 rules sampled" in printed and "funnel stage 1: 2 rules on least_squares" in printed
    space = GRAMMAR.subset(**SPACE)
    for row in rows:  # every rule of the leaderboard is written in the chosen words only
        parse(row[1], space)
    with pytest.raises(ValueError):  # and that check can fail: v is not among the operands
        parse("v*g", space)


def test_evaluate_rules_compares_a_runs_best_rule_and_catalog_rules_with_adam(search_run):
    cwd, _ = search_run
    printed = run_script("evaluate_rules.py", "runs/ls#1", "powersign", "--tasks", "quadratic", "--seeds", "2",
                         "--steps", "40", "--learning-rates", "0.01", "0.1", cwd=cwd)
    header, rows = text_table(printed, "task", "rule")
    assert header[4:7] == ["95% CI", "vs baseline (Δ mean [95% CI], p, n)", "verdict"]
    labels = [row[1].split(":")[0] for row in rows]
    assert sorted(labels) == ["adam", "ls#1", "powersign"]
    for row in rows:
        assert row[0] == "quadratic" and re.fullmatch(r"\[.+, .+\]", row[4]), row  # a 95% interval
        if row[1] == "adam":
            assert row[5] == "(the baseline)" and row[6] == "-"
        else:
            assert row[6] in VERDICTS and "n=2" in row[5], row
    assert re.search(r"^powersign vs adam: quadratic (better|worse|not distinguishable)$", printed, re.M)
    assert re.search(r"^ls#1 vs adam: quadratic (better|worse|not distinguishable)$", printed, re.M)


def test_export_rule_writes_a_keras_class_that_trains_a_model(tmp_path):
    printed = run_script("export_rule.py", "(1 + sign(g)*sign(m))*g", "--name", "MyAddSign", "--out", "addsign.py",
                         "--epochs", "2", cwd=tmp_path)
    source = (tmp_path / "addsign.py").read_text()
    assert "class MyAddSign(keras.optimizers.Optimizer)" in source and "import nos" not in source
    assert "catalog rule `addsign`" in source  # the exporter found the catalog entry for the docstring
    before, after = map(float, re.search(r"validation loss (\S+) -> (\S+),", printed).groups())
    assert after < 0.8 * before, printed


def test_kernel_rows_times_each_row_table_and_counts_its_entries(tmp_path):
    sys.path.insert(0, str(SCRIPTS))
    try:
        from kernel_rows import variants
    finally:
        sys.path.remove(str(SCRIPTS))
    tables = variants(2)
    printed = run_script("kernel_rows.py", "--k", "4", "--steps", "2", "--units", "2", cwd=tmp_path)
    header, rows = text_table(printed, "table", "units")
    assert header[2:4] == ["entries", "ms/step"]
    assert [row[0] for row in rows] == list(tables)
    for row in rows:
        table = tables[row[0]]
        assert (int(row[1]), int(row[2])) == (table.units, table.size), row
        assert float(row[3]) > 0 and float(row[4]) > 0, row
    sizes = [table.size for table in tables.values()]
    assert sizes[2] > sizes[3] > sizes[4] > sizes[5]  # each removal takes rows out of the grammar's table


def test_rounding_by_lane_count_puts_every_lane_count_in_one_class(tmp_path):
    printed = run_script("rounding_by_lane_count.py", "--steps", "3", "--ks", "4", "8", "32", cwd=tmp_path)
    count = int(re.search(r"(\d+) class\(es\) of bit-identical lanes", printed).group(1))
    classes = re.findall(r"^  K = ([\d, ]+): validation loss", printed, re.M)
    assert len(classes) == count >= 1
    assert sorted(int(k) for ks in classes for k in ks.split(", ")) == [4, 8, 32]
