"""The README's "Your first search", run as written, so that it cannot rot.

The steps come from the fenced blocks of that section itself: every ``nos …`` line of a bash
block runs through `nos.cli.main` in a temporary directory, and the Python block runs as a file
in a fresh interpreter, as a reader would run it. Only the cost is scaled down: ``--budget 16``
and ``--seeds 2`` replace the README's values, ``nos evaluate`` gets 30 steps, 3 learning rates
and ``--no-plots``, and the quick preset's reward and funnel train fewer steps, learning rates,
seeds and rules (`small_preset`).
Each step's output is then checked against the output block the README shows for it: the same
table columns, the same line formats, and numbers that say the step worked.
"""

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import nos.search.config
from nos.cli import main

README = Path(__file__).parents[1] / "README.md"
SECTION = "## Your first search"
SCALED = {"--budget": "16", "--seeds": "2"}
"""Options whose README value is replaced, and by what."""
APPENDED = {"evaluate": ["--steps", "30", "--learning-rates", "0.01", "0.1", "1", "--no-plots"]}
"""Options added to a subcommand's README line."""
VERDICTS = ("better", "worse", "not distinguishable")


@dataclass
class Step:
    lang: str  # "bash": one `nos …` command; "python": a program
    code: str
    shown: str  # the output block the README shows under it ("" if none)


def quickstart_steps(readme: str) -> list[Step]:
    """The section's commands and programs, in order, each with the output block that follows it."""
    start = readme.index(f"\n{SECTION}\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start:end if end != -1 else None]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.M | re.S)
    steps = []
    for i, (lang, body) in enumerate(blocks):
        shown = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == "text" else ""
        if lang == "bash":
            steps += [Step(lang, line.strip(), shown) for line in body.splitlines() if line.strip()]
        elif lang == "python":
            steps.append(Step(lang, body, shown))
    return steps


def scaled(argv: list[str]) -> list[str]:
    """`argv` with the values of the options in SCALED replaced and the options in APPENDED added."""
    argv = list(argv)
    for i in range(1, len(argv)):
        if argv[i - 1] in SCALED:
            argv[i] = SCALED[argv[i - 1]]
    return argv + APPENDED.get(argv[0], [])


def small_preset(name: str, _load=nos.search.config.load_preset):
    """The preset with its reward and funnel made cheap: 30 steps, 2 learning rates, 2 seeds in the
    funnel, a quarter of the rules in each stage, and no convnet (the slowest to compile)."""
    config = _load(name)
    config.reward.steps, config.reward.learning_rates = 30, [0.01, 0.1]
    for stage in config.funnel:
        stage.top, stage.steps, stage.learning_rates, stage.seeds = max(2, stage.top // 4), 30, [0.01, 0.1], [0, 1]
        if stage.tasks:
            stage.tasks = [task for task in stage.tasks if task != "conv_digits"]
    return nos.search.config.validate(config)


def columns(text: str, first: str) -> list[str]:
    """The column names of the first text table in `text` whose header starts with `first`."""
    header = next(line for line in text.splitlines() if re.match(rf"{first}\s{{2,}}", line))
    return re.split(r"\s{2,}", header.strip())


def rows(text: str, first: str) -> list[list[str]]:
    """The rows under that header, split on two or more spaces, up to the first line that is not one."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{first}\s{{2,}}", line))
    width = len(columns(text, first))
    body = []
    for line in lines[start + 2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != width:
            break
        body.append(cells)
    return body


def labels(text: str) -> list[str]:
    """The `name:` labels that start the lines of `nos show`'s first part."""
    return re.findall(r"^([a-z]+):\s{2,}", text, re.M)


def check_search(printed: str, shown: str, argv: list[str], written: list[str]):
    assert columns(printed, "rank") == columns(shown, "rank") == [
        "rank", "rule", "reward", "stage 1", "stage 2", "score", "best lr", "known rule"]
    assert rows(printed, "rank")[0][0] == "1" and rows(shown, "rank")[0][0] == "1"
    for text, line in ((printed, argv), (shown, written)):  # the budget of the command that printed it
        budget = line[line.index("--budget") + 1]
        assert re.search(rf"^{budget} rules sampled: \d+ trained", text, re.M), text


def check_show(printed: str, shown: str, argv: list[str], written: list[str]):
    finished = r"^status:\s+finished: (\d+)/\1 samples"
    assert re.match(finished, printed).group(1) == SCALED["--budget"]
    assert re.match(finished, shown)
    assert set(labels(shown)) <= set(labels(printed))
    assert columns(printed, "rank") == columns(shown, "rank")


def check_evaluate(printed: str, shown: str, argv: list[str], written: list[str]):
    assert columns(printed, "task") == columns(shown, "task")
    for table in (printed, shown):
        by_label = {row[1].split(": ")[0]: row for row in rows(table, "task")}
        assert {"first#1", "adam", "powersign", "momentum"} <= set(by_label)
        assert by_label["adam"][5] == "(the baseline)"
        assert by_label["first#1"][6] in VERDICTS, by_label["first#1"]
    first = next(row for row in rows(printed, "task") if row[1].startswith("first#1: "))
    assert f"n={argv[argv.index('--seeds') + 1]}" in first[5]  # paired over every seed
    out = Path(argv[argv.index("--out") + 1])
    assert (out / "results.json").is_file() and (out / "results.md").is_file()


def check_export(printed: str, shown: str, argv: list[str], written: list[str]):
    wrote = r"^wrote first_rule\.py \(keras, rule .+\)$"
    assert re.match(wrote, printed.strip()) and re.match(wrote, shown.strip())
    assert "class FirstRule(keras.optimizers.Optimizer)" in Path("first_rule.py").read_text()


def check_python(printed: str, shown: str):
    """The loss fell: by half in the README's five epochs of its winner; at all here, where the small
    search's winner may well want another learning rate than the README's."""
    line = r"^{}:\s+loss (\d+\.\d{{4}}), accuracy (\d\.\d{{3}})$"
    for text, fraction in ((printed, 1.0), (shown, 0.5)):
        before, after = (float(re.search(line.format(when), text, re.M).group(1)) for when in ("before", "after"))
        assert after < fraction * before, text


CHECKS = {"search": check_search, "show": check_show, "evaluate": check_evaluate, "export": check_export}


def test_the_section_is_search_show_evaluate_export_then_python():
    steps = quickstart_steps(README.read_text(encoding="utf-8"))
    assert [step.code.split()[:2] for step in steps if step.lang == "bash"] == [
        ["nos", "search"], ["nos", "show"], ["nos", "evaluate"], ["nos", "export"]]
    assert [step.lang for step in steps][-1] == "python"
    assert all(step.shown for step in steps), "every step shows its output"
    assert "--budget" in steps[0].code, "the test scales the search through its --budget"


def test_the_quickstart_runs_as_written(tmp_path, monkeypatch, capsys):
    steps = quickstart_steps(README.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    presets = []
    monkeypatch.setattr(nos.search.config, "load_preset", lambda name: presets.append(name) or small_preset(name))
    for step in steps:
        if step.lang == "python":
            (tmp_path / "quickstart.py").write_text(step.code, encoding="utf-8")
            done = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=180, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
            check_python(done.stdout, step.shown)
            continue
        written = shlex.split(step.code)[1:]
        argv = scaled(written)
        code = main(argv)
        printed = capsys.readouterr()
        assert code == 0, f"nos {' '.join(argv)} exited {code}: {printed.err[-2000:]}"
        CHECKS[argv[0]](printed.out, step.shown, argv, written)
    assert presets == ["quick"], "nos search read its preset without nos.search.config.load_preset: the test ran it whole"


def test_the_parser_notices_a_missing_section_or_output():
    with pytest.raises(ValueError):
        quickstart_steps("# NOS\n\n## Other\n")
    steps = quickstart_steps(f"\n{SECTION}\n\n```bash\nnos search --budget 64\n```\n\n## Next\n\n```text\nx\n```\n")
    assert steps == [Step("bash", "nos search --budget 64", "")]
