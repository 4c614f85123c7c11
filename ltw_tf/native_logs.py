"""TensorFlow's and LiteRT's native (C++) start-up lines, kept off a user's terminal unless asked for (``-v``).

Three sources, found on TensorFlow 2.21 / ai-edge-litert 2.x:

- TensorFlow's C++ logging once absl is initialised: it drops its own INFO and WARNING lines when
  ``TF_CPP_MIN_LOG_LEVEL`` >= 2 is set before the first import; errors still print. ``quiet_tensorflow`` sets it
  (a user's own value of 0 or 1 used to win, and brought the lines back).
- TensorFlow's C++ logging *before* absl is initialised, which no setting reaches: on a CPU where oneDNN is on
  (by default on AVX-512 / VNNI / AMX machines, or with ``TF_ENABLE_ONEDNN_OPTS=1`` anywhere), ``import
  tensorflow`` writes, twice, "WARNING: All log messages before absl::InitializeLog() is called are written to
  STDERR" and "I0000 ... port.cc:153] oneDNN custom operations are on ..." straight to file descriptor 2 (and,
  with ``TF_CPP_MIN_LOG_LEVEL`` 0, cpu_feature_guard's "I0000 ... This TensorFlow binary is optimized ..." with its
  "To enable the following instructions: ..." continuation). ``quiet_tensorflow`` also installs a one-shot import
  hook that runs the first ``import tensorflow`` under ``native_stderr`` with ``TF_STARTUP``: those lines go to
  the ``ltw_tf.native`` logger at INFO, every other byte (a W or E line, a traceback) is written back.
- LiteRT's interpreter logs "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." with its own minimal
  logger, which no setting reaches. ``native_stderr`` captures fd 2 around the call that prints it: its ``INFO:``
  lines go to a Python logger at INFO (shown with ``-v``), every other byte is written back to stderr.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_TF_LEVEL = 2  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
LITERT_INFO = re.compile(r"^INFO: ")  # LiteRT's minimal logger, INFO severity (its WARNING / ERROR pass through)
TF_STARTUP = re.compile(  # what ``import tensorflow`` prints before absl is initialised: a banner, INFO lines
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "  # glog INFO: I0000 00:00:1796504826.216492 9122 port.cc:153] ...
    r"|To enable the following instructions: )"  # cpu_feature_guard's INFO line, second half
)
NATIVE_LOG = "ltw_tf.native"


def quiet_tensorflow(verbose: bool) -> None:
    """Before TensorFlow is first imported: its C++ INFO and WARNING lines off (``TF_CPP_MIN_LOG_LEVEL`` >= 2)
    unless ``verbose``, in which case the caller's own setting (TensorFlow's default: everything) stands; and, either
    way, its pre-absl start-up lines routed to the ``ltw_tf.native`` logger at INFO (``capture_first_import``).
    Every entry point that may import TensorFlow calls this first: the CLI, prepare's workers, bench scripts."""
    capture_first_import("tensorflow", logging.getLogger(NATIVE_LOG), TF_STARTUP, "TensorFlow")
    if verbose:
        return
    current = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip()
    if not (current.isdigit() and int(current) >= QUIET_TF_LEVEL):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(QUIET_TF_LEVEL)


def capture_first_import(name: str, logger: logging.Logger, noise: re.Pattern, source: str) -> None:
    """Run the first ``import name`` (a top-level package) under ``native_stderr``: its lines matching ``noise`` go
    to ``logger.info``, all else back to stderr. A no-op if ``name`` is imported already or the hook is in place."""
    if name in sys.modules or any(isinstance(f, _FirstImport) and f.name == name for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _FirstImport(name, logger, noise, source))


class _FirstImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: removes itself, finds ``name``'s spec with the finders after it, wraps its loader."""

    def __init__(self, name: str, logger: logging.Logger, noise: re.Pattern, source: str):
        self.name, self.logger, self.noise, self.source = name, logger, noise, source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = next(filter(None, (f.find_spec(fullname, path, target) for f in sys.meta_path)), None)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _CapturedLoader(spec.loader, self)
        return spec


class _CapturedLoader(importlib.abc.Loader):
    """The package's own loader, its ``exec_module`` run with fd 2 captured; the module keeps the real loader."""

    def __init__(self, loader: importlib.abc.Loader, hook: _FirstImport):
        self.loader, self.hook = loader, hook

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        with native_stderr(self.hook.logger, self.hook.noise, self.hook.source):
            self.loader.exec_module(module)

    def __getattr__(self, attribute):  # get_resource_reader, is_package, get_code ...: the real loader's
        return getattr(self.loader, attribute)


@contextmanager
def native_stderr(logger: logging.Logger, noise: re.Pattern = LITERT_INFO, source: str = "LiteRT") -> Iterator[None]:
    """Run a block whose native code writes to fd 2: lines matching ``noise`` go to ``logger.info``, all other
    output (errors included) is written to stderr when the block ends. Nothing is dropped."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 (a daemon), or a stderr without flush
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()  # Python's own writes inside the block, in order with the native ones
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            for line in text.splitlines(keepends=True):
                if noise.match(line):
                    logger.info("%s: %s", source, line.rstrip())
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()
