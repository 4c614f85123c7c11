"""Shared pytest set-up: quiet TensorFlow logs, deterministic seeds.

``make test`` runs the files on up to 4 pytest-xdist workers (``--dist loadfile``: a module's tests and fixtures
stay in one process); nothing here limits TensorFlow's threads.
"""

from ltw_tf.native_logs import quiet_tensorflow

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


# TF_ENABLE_ONEDNN_OPTS for the tests that start ltw-tf processes and read their terminal: "0" is what AVX2-only
# CPUs get by default, "1" what AVX-512 / VNNI / AMX CPUs get (TensorFlow's start-up lines differ). Both, on any CPU.
ONEDNN_SETTINGS = ("0", "1")


@pytest.fixture(params=ONEDNN_SETTINGS, ids=lambda setting: f"onednn{setting}")
def onednn(request) -> str:
    return request.param
