"""Shared pytest set-up: quiet TensorFlow logs, deterministic seeds.

``make test`` runs the files on up to 4 pytest-xdist workers (``--dist loadfile``: a module's tests and fixtures
stay in one process); nothing here limits TensorFlow's threads.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
