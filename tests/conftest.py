import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

if "PYTEST_XDIST_WORKER" not in os.environ and "NOS_COMPILE_CACHE" not in os.environ:
    # One XLA compile cache for this test session, shared by its workers and the processes they
    # start, and removed after it: tests neither read nor fill the user's cache.
    _cache = tempfile.mkdtemp(prefix="nos-test-xla-")
    os.environ["NOS_COMPILE_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
