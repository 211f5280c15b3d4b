"""The ``nos`` command: one subcommand a module in this package, each with ``register(subparsers)``.

Every user-facing failure is one line on stderr and exit status 2; no tracebacks. Exit statuses:

    0    done
    1    an unexpected internal error (a bug): one line naming it; NOS_DEBUG=1 shows the traceback
    2    bad input: arguments, configs, rule text, files and directories (one line naming it)
    130  interrupted by Ctrl-C (SIGINT);  143  stopped by SIGTERM. A search keeps every
         committed step and continues with ``nos search --resume RUN_DIR``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import pkgutil
import signal
import sys

from nos.errors import NosError


def subcommands() -> list[str]:
    """Modules of this package that define a subcommand (every module not starting with _)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``nos CMD: error: …``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nos", description="Neural Optimizer Search. -v/--verbose (or NOS_DEBUG=1) "
                           "before or after the command shows TensorFlow's own log lines too.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    subparsers.required = True
    for name in subcommands():
        importlib.import_module(f"nos.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``nos ARGV``; returns the exit status (argparse's --help and usage errors included)."""
    from nos.search.loop import signal_number, stop_on_signals

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 2
    try:
        with stop_on_signals():
            return args.run(args) or 0
    except (NosError, ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"nos {args.command}: error: {one_line(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"nos {args.command}: interrupted", file=sys.stderr)
        return 128 + signal_number(interrupt)
    except Exception as error:  # a bug: say so in one line, unless debugging
        if os.environ.get("NOS_DEBUG"):
            raise
        print(f"nos {args.command}: internal error: {type(error).__name__}: {one_line(error)} "
              "(a bug; NOS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def _interrupted_in_a_callback(print_exception):
    """`sys.excepthook` that ends the process as Ctrl-C does (one line, exit 130) on a
    KeyboardInterrupt that C code caught and printed, so that the interrupt is not lost."""

    def hook(kind, value, traceback):
        if issubclass(kind, KeyboardInterrupt):
            sys.stderr.write("nos: interrupted\n")
            sys.stderr.flush()
            os._exit(130)
        print_exception(kind, value, traceback)

    return hook


def entry() -> int:
    """The console entry point (``nos``, ``python -m nos``): `main` without TensorFlow's noise.

    Ctrl-C at any moment is one line and exit 130: while the `nos` package is imported, by the
    handler `nos/__init__.py` installs in the console script; from here on, as KeyboardInterrupt,
    also where C code calls back into Python and prints the exception instead of raising it
    (protobuf does, while TensorFlow imports): that print goes through `sys.excepthook`."""
    sys.excepthook = _interrupted_in_a_callback(sys.excepthook)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from nos.cli._quiet import quiet_native_logs, wants_everything

        argv = sys.argv[1:]
        if not wants_everything(argv):
            quiet_native_logs()
        status = main([a for a in argv if a not in ("-v", "--verbose")])
    except KeyboardInterrupt:
        print("nos: interrupted", file=sys.stderr)
        status = 130
    if status > 128:
        _exit_interrupted(status)
    return status


def _exit_interrupted(status: int) -> None:
    """Leave with `status` (128 + signal) after the exit handlers, without the interpreter's
    finalization: once a KeyboardInterrupt has crossed certain C frames on its way (running a
    module, C code running Python), CPython ends the process by SIGINT itself (status -2)
    whatever Python code then did with the interrupt."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def one_line(message) -> str:
    """`message` on one line: line breaks and other unprintable characters escaped (``\\n``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


if __name__ == "__main__":
    sys.exit(entry())

