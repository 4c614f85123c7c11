"""TensorFlow's and LiteRT's native (C++) start-up lines, kept off a user's terminal unless asked for (``-v``).

Two sources, found on TensorFlow 2.21 / ai-edge-litert 2.x:

- TensorFlow's C++ logging at import ("WARNING: All log messages before absl::InitializeLog() is called ...",
  "I0000 ... cpu_feature_guard.cc ...") goes straight to file descriptor 2. TensorFlow drops its INFO and
  WARNING lines itself when ``TF_CPP_MIN_LOG_LEVEL`` >= 2 is set before the first import; errors still print.
  ``quiet_tensorflow`` sets it (a user's own value of 0 or 1 used to win, and brought the lines back).
- LiteRT's interpreter logs "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." with its own minimal
  logger, which no setting reaches. ``native_stderr`` captures fd 2 around the call that prints it: its ``INFO:``
  lines go to a Python logger at INFO (shown with ``-v``), every other byte is written back to stderr.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_TF_LEVEL = 2  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
LITERT_INFO = re.compile(r"^INFO: ")  # LiteRT's minimal logger, INFO severity (its WARNING / ERROR pass through)


def quiet_tensorflow(verbose: bool) -> None:
    """Before TensorFlow is first imported: its C++ INFO and WARNING lines off (``TF_CPP_MIN_LOG_LEVEL`` >= 2)
    unless ``verbose``, in which case the caller's own setting (TensorFlow's default: everything) stands."""
    if verbose:
        return
    current = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip()
    if not (current.isdigit() and int(current) >= QUIET_TF_LEVEL):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(QUIET_TF_LEVEL)


@contextmanager
def native_stderr(logger: logging.Logger, noise: re.Pattern = LITERT_INFO) -> Iterator[None]:
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
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            for line in text.splitlines(keepends=True):
                if noise.match(line):
                    logger.info("LiteRT: %s", line.rstrip())
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()
