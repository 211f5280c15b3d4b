"""A `nos` process shows NOS's output only: no TensorFlow start-up or retracing noise."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.test_search import SMALL, write_toml

NOISE = re.compile(r"cuda|onednn|E0000|I0000|absl|retracing", re.IGNORECASE)


def _nos(*argv, cwd):
    done = subprocess.run([sys.executable, "-m", "nos", *argv], capture_output=True, text=True, timeout=300,
                          cwd=cwd, check=False)
    return done.returncode, done.stdout + done.stderr, done.stderr


def test_a_search_prints_no_tensorflow_noise_and_an_error_is_exactly_one_line(tmp_path):
    config = write_toml({**SMALL, "budget": 4}, tmp_path / "small.toml")
    code, output, _ = _nos("search", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress",
                           cwd=tmp_path)
    assert code == 0, output
    assert not NOISE.findall(output), NOISE.findall(output)
    assert "run directory:" in output
    code, output, stderr = _nos("evaluate", "exp((", "--task", "rosenbrock", cwd=tmp_path)
    assert code == 2
    assert stderr.splitlines() == [
        ("nos evaluate: error: at position 5: expected an operand, a function call, '-' or '(' "
         "but found the end of the text")
    ]


@pytest.mark.parametrize("command", ["script", "module"])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(command, tmp_path):
    """SIGINT while the package imports, while the subcommand loads, and while it trains."""
    nos = [os.path.join(os.path.dirname(sys.executable), "nos")] if command == "script" else [sys.executable, "-m", "nos"]
    for delay in (0.3, 1.0, 4.0):  # not earlier: the interpreter starts before any NOS code can run
        process = subprocess.Popen([*nos, "evaluate", "g", "--task", "rosenbrock", "--steps", "1000000"], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        stderr = process.communicate(timeout=60)[1]
        assert process.returncode == 130 and re.fullmatch(r"nos( evaluate)?: interrupted\n", stderr), (delay, stderr)


def test_verbose_is_accepted_before_or_after_the_command(tmp_path):
    for argv in (["-v", "rules", "powersign"], ["rules", "powersign", "--verbose"]):
        code, output, _ = _nos(*argv, cwd=tmp_path)
        assert code == 0 and "exp(sign(g)*sign(m))*g" in output.replace(" ", ""), output


def test_an_interrupt_that_c_code_catches_and_prints_still_ends_the_process_with_130(tmp_path):
    """C code that calls back into Python may print the KeyboardInterrupt (``PyErr_Print``, as
    protobuf does while TensorFlow imports) and go on: the Ctrl-C must not be lost."""
    code = (
        "import ctypes, sys\n"
        "from nos.cli import _interrupted_in_a_callback\n"
        "sys.excepthook = _interrupted_in_a_callback(sys.excepthook)\n"
        "ctypes.pythonapi.PyRun_SimpleString(b'raise KeyboardInterrupt')\n"  # C: run, PyErr_Print, go on
        "print('went on')\n"
        "sys.exit(0)\n"  # as `sys.exit(entry())` after a run that went on to its end
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "nos: interrupted\n")
    unhooked = subprocess.run([sys.executable, "-c", code.replace("sys.excepthook = ", "_ = ")], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)
    assert unhooked.returncode == 0 and unhooked.stdout == "went on\n"  # what happened without the hook
