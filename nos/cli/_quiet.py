"""Keep TensorFlow's start-up noise off the terminal of a ``nos`` process.

TensorFlow's C++ side logs through absl straight to file descriptor 2 (``oneDNN custom
operations are on``, ``Could not find cuda drivers``, an error-level ``failed call to cuInit``
on a machine without a GPU), whatever ``TF_CPP_MIN_LOG_LEVEL`` says. A ``nos`` process
therefore moves descriptor 2 to /dev/null and gives Python's ``sys.stderr`` a private copy
of the real one: NOS's own messages (and Python tracebacks) still reach the terminal, native
libraries' logs do not. TensorFlow's Python logger is set to ERROR, which drops the
``triggered tf.function retracing`` warnings of intended retraces.

``-v/--verbose`` or ``NOS_DEBUG=1`` keeps everything. Only the console entry point does this;
``nos.cli.main`` called from Python leaves the caller's streams alone.
"""

from __future__ import annotations

import logging
import os
import sys


def wants_everything(argv: list[str]) -> bool:
    return bool(os.environ.get("NOS_DEBUG")) or "-v" in argv or "--verbose" in argv


def quiet_native_logs() -> None:
    """Point descriptor 2 at /dev/null; ``sys.stderr`` keeps writing to the real stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    sys.stderr.flush()
    real = os.dup(2)
    os.set_inheritable(real, False)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
