"""Model runners: one small interface over the three forms a detector comes in (run directory, SavedModel, .tflite).

Every runner takes uint8 RGB face crops [N, S, S, 3] and returns P(fake) [N] as float32; ``size`` (S) comes from
the model's own input shape. ``predict_with_features`` also returns the stage-pooled features [N, D] the
out-of-distribution score reads (``ltw_tf.ood``), or None for a model without that output (a foreign or older
export, a ``.keras`` file). TensorFlow is imported only for the Keras and SavedModel runners; a .tflite model
runs on LiteRT (``ai_edge_litert``). MTCNN, which finds the faces, still needs TensorFlow.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ltw_tf.errors import first_line
from ltw_tf.native_logs import native_stderr

log = logging.getLogger(__name__)

INPUT_NAME = "images"  # == ltw_tf.models.serving.INPUT_NAME (not imported: that module imports Keras)
OUTPUT_NAME = "probability"
FEATURES_NAME = "features"
SERVING_SIGNATURE = "serving_default"


class ModelRunner(Protocol):
    kind: str  # "run" | "keras" | "savedmodel" | "tflite"
    source: str  # the path it was loaded from
    size: int  # face crop side S
    trained_on: dict | None  # what the model was trained on (ltw_tf.provenance; None: not recorded)
    has_features: bool  # the model gives its pooled features (the out-of-distribution score can be computed)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> float32 P(fake) [N]."""

    def predict_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 [N, S, S, 3] -> (float32 P(fake) [N], float32 features [N, D] or None)."""


class _Runner:
    """What every runner shares: ``predict`` is the probabilities of ``predict_with_features``."""

    has_features = False
    trained_on: dict | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_with_features(images)[0]

    def _empty(self) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros((0,), np.float32), None


def _check_batch(images: np.ndarray, size: int) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(f"expected uint8 face crops [N, {size}, {size}, 3], got {images.dtype} {images.shape}")
    return np.ascontiguousarray(images)


@dataclass
class KerasRunner(_Runner):
    """A trained run's detector wrapped by ``serving_model`` (same weights, sigmoid inside; with features for a
    run directory), or a ``.keras`` model file with the same contract."""

    model: Any
    source: str
    kind: str = "run"
    trained_on: dict | None = None

    def __post_init__(self):
        import tensorflow as tf

        self.size = int(self.model.inputs[0].shape[1])
        self.has_features = isinstance(self.model.output, dict) and FEATURES_NAME in self.model.output
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def predict_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        images = _check_batch(images, self.size)
        if not len(images):
            return self._empty()
        out = self._call(images)
        if not isinstance(out, dict):
            return np.asarray(out, np.float32).reshape(-1), None
        return np.asarray(out[OUTPUT_NAME], np.float32).reshape(-1), np.asarray(out[FEATURES_NAME], np.float32)


class SavedModelRunner(_Runner):
    """An exported SavedModel's ``serving_default`` signature: ``images`` uint8 -> ``probability`` float32 (and
    ``features`` float32 when the export has them)."""

    kind = "savedmodel"

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf

        self.source = os.fspath(path)
        try:
            self._loaded = tf.saved_model.load(self.source)  # keeps the variables alive
        except Exception as err:  # noqa: BLE001 -- a damaged folder raises OpError, OSError, IndexError, ...
            raise ValueError(
                f"{path}: not a loadable SavedModel (damaged or incomplete saved_model.pb or "
                f"variables/: {first_line(err)})"
            ) from None
        if SERVING_SIGNATURE not in self._loaded.signatures:
            raise ValueError(
                f"{path}: SavedModel has no {SERVING_SIGNATURE!r} signature "
                f"(has {sorted(self._loaded.signatures) or 'none'}); export it with `ltw-tf export`"
            )
        self._fn = self._loaded.signatures[SERVING_SIGNATURE]
        inputs = self._fn.structured_input_signature[1]
        outputs = self._fn.structured_outputs
        self._input = INPUT_NAME if INPUT_NAME in inputs else _only(inputs, "input", path)
        self._output = OUTPUT_NAME if OUTPUT_NAME in outputs else _only(outputs, "output", path)
        self.has_features = FEATURES_NAME in outputs
        spec = inputs[self._input]
        if spec.dtype != tf.uint8 or spec.shape.rank != 4 or spec.shape[1] is None:
            raise ValueError(
                f"{path}: input {self._input!r} is {spec.dtype.name} {spec.shape}, expected uint8 [N, S, S, 3]"
            )
        self.size = int(spec.shape[1])
        self._tf = tf

    def predict_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        images = _check_batch(images, self.size)
        if not len(images):
            return self._empty()
        out = self._fn(**{self._input: self._tf.constant(images)})
        features = np.asarray(out[FEATURES_NAME], np.float32) if self.has_features else None
        return np.asarray(out[self._output], np.float32).reshape(-1), features


def _only(specs: dict, what: str, path) -> str:
    if len(specs) != 1:
        raise ValueError(
            f"{path}: cannot tell which {what} to use among {sorted(specs)} "
            f"(expected {INPUT_NAME!r} -> {OUTPUT_NAME!r})"
        )
    return next(iter(specs))


def output_details(interpreter: Any, name: str = OUTPUT_NAME) -> dict | None:
    """The details of a LiteRT interpreter's output called ``name`` in its ``serving_default`` signature (the
    converter orders outputs as it likes: never by position); a model with one output and no such name (a
    foreign .tflite): that output for ``probability``; None when there is no such output."""
    outputs = interpreter.get_output_details()
    signatures = interpreter.get_signature_list()
    if SERVING_SIGNATURE in signatures and name in signatures[SERVING_SIGNATURE]["outputs"]:
        index = interpreter.get_signature_runner(SERVING_SIGNATURE).get_output_details()[name]["index"]
        return next(o for o in outputs if o["index"] == index)
    if name == OUTPUT_NAME and len(outputs) == 1:
        return outputs[0]
    return None


class TFLiteRunner(_Runner):
    """A .tflite model on LiteRT: input 0 uint8 [1, S, S, 3] (resized to the batch when the model allows,
    else one image per call), outputs ``probability`` (and ``features`` when present) by signature name,
    dequantized when the model quantizes them."""

    kind = "tflite"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.source = os.fspath(path)
        try:
            self._interpreter = Interpreter(model_path=self.source, num_threads=num_threads or os.cpu_count() or 1)
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: not a usable .tflite model ({first_line(err)})") from None
        with native_stderr(log):  # LiteRT's "INFO: Created ... XNNPACK delegate" line: -v only
            self._interpreter.allocate_tensors()
        self._in = self._interpreter.get_input_details()[0]
        self._out = output_details(self._interpreter)
        if self._out is None:
            names = [o["name"] for o in self._interpreter.get_output_details()]
            raise ValueError(f"{path}: cannot tell which output is P(fake) among {names} (no {OUTPUT_NAME!r})")
        self._features = output_details(self._interpreter, FEATURES_NAME)
        self.has_features = self._features is not None
        shape = [int(v) for v in self._in["shape"]]
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise ValueError(f"{path}: input shape {shape} is not [N, S, S, 3]")
        self.size = shape[1]
        self._batch = shape[0]  # the batch the tensors are allocated for now
        self._resizable = True  # until a resize fails

    def _feed(self, images: np.ndarray) -> np.ndarray:
        """Pixels as the input tensor wants them: raw uint8, float, or quantized with its scale / zero point."""
        dtype = self._in["dtype"]
        scale, zero = self._in["quantization"]
        if dtype == np.uint8 and not scale:
            return images
        if scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(images / scale + zero), info.min, info.max).astype(dtype)
        return images.astype(dtype)

    def _read(self, details: dict) -> np.ndarray:
        out = self._interpreter.get_tensor(details["index"])
        scale, zero = details["quantization"]
        if scale and np.issubdtype(out.dtype, np.integer):
            return (out.astype(np.float32) - zero) * np.float32(scale)
        return out.astype(np.float32)

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if len(images) != self._batch:
            self._interpreter.resize_tensor_input(self._in["index"], [len(images), self.size, self.size, 3])
            self._interpreter.allocate_tensors()
            self._batch = len(images)
        self._interpreter.set_tensor(self._in["index"], self._feed(images))
        self._interpreter.invoke()
        features = None if self._features is None else self._read(self._features).reshape(len(images), -1)
        return self._read(self._out).reshape(-1), features

    def predict_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        images = _check_batch(images, self.size)
        if not len(images):
            return self._empty()
        if self._resizable and len(images) > 1:
            try:
                out = self._run(images)
                if out[0].shape == (len(images),):
                    return out
            except (ValueError, RuntimeError):
                self._interpreter.resize_tensor_input(self._in["index"], [1, self.size, self.size, 3])
                self._interpreter.allocate_tensors()
                self._batch = 1
            self._resizable = False  # a fixed-batch model: one image per call from now on
        parts = [self._run(images[i : i + 1]) for i in range(len(images))]
        features = None if self._features is None else np.concatenate([f for _, f in parts])
        return np.concatenate([p for p, _ in parts]), features


def load_keras_file(path: str | os.PathLike) -> Any:
    """A ``.keras`` model loaded in Keras safe mode (code in the file, e.g. a Lambda layer, is refused, never run),
    checked to take [N, S, S, 3] images and give one P(fake) per image."""
    import keras

    from ltw_tf.models import serving  # registers the serving model's layers

    del serving
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 -- a damaged zip raises zipfile / OSError / ValueError / KeyError
        text = str(err).strip()
        if "safe_mode" in text or "Lambda" in text:
            raise ValueError(
                f"model {path}: refused: it carries Python code (a Lambda layer) that Keras safe mode "
                "does not run; export the detector with `ltw-tf export` instead"
            ) from None
        raise ValueError(f"model {path}: not a loadable .keras model ({first_line(err)})") from None
    inputs, outputs = model.inputs, model.outputs
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else ()
    if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(f"model {path}: input {[tuple(i.shape) for i in inputs]} is not one [N, S, S, 3] image batch")
    if len(outputs) != 1 or tuple(outputs[0].shape)[1:] not in ((), (1,)):
        raise ValueError(
            f"model {path}: output {[tuple(o.shape) for o in outputs]} is not one P(fake) per image "
            "([N] or [N, 1]); save `serving_model(detector)`, not the bare detector"
        )
    return model


# --------------------------------------------------------------------------- choosing


def model_kind(path: str | os.PathLike) -> str:
    """ "tflite" (a .tflite file), "keras" (a .keras file), "savedmodel" (a folder with saved_model.pb) or "run"
    (anything else: a run directory or checkpoint, which ``ltw_tf.runs`` checks)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".tflite":
        return "tflite"
    if path.is_file() and path.suffix.lower() == ".keras":
        return "keras"
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel"
    return "run"


def resolve_model(model: str | os.PathLike | None, runs_dir: str | os.PathLike = "runs") -> tuple[str, bool]:
    """(model path, whether it was chosen for the caller): ``model``, or the latest run under ``runs_dir``."""
    if model is None:
        from ltw_tf.runs import latest_run

        return os.fspath(latest_run(runs_dir)), True
    path = os.fspath(model)
    if not os.path.exists(path) and not os.path.isfile(f"{path}.index"):
        raise FileNotFoundError(
            f"model {path}: no such file or directory (give a .tflite file, a SavedModel folder or a run directory)"
        )
    return path, False


def load_runner(model: str | os.PathLike, num_threads: int | None = None) -> ModelRunner:
    """The runner for a .tflite file, a SavedModel folder or a run directory / checkpoint prefix, with the record
    of what the model was trained on (``trained_on``: the run's trained_on.json or the export's model card)."""
    from ltw_tf.provenance import read_trained_on

    runner = _runner(os.fspath(model), num_threads)
    runner.trained_on = read_trained_on(model)
    return runner


def _runner(path: str, num_threads: int | None) -> ModelRunner:
    kind = model_kind(path)
    if kind == "tflite":
        return TFLiteRunner(path, num_threads)
    if kind == "savedmodel":
        return SavedModelRunner(path)
    if kind == "keras":
        return KerasRunner(load_keras_file(path), path, kind="keras")
    if os.path.isfile(path):
        raise ValueError(
            f"model {path}: a file that is not a .tflite or .keras model; give a .tflite file, a "
            ".keras file, a SavedModel folder or a run directory"
        )
    from ltw_tf.models.serving import serving_model
    from ltw_tf.runs import load_detector

    detector, ref = load_detector(path)
    runner = KerasRunner(serving_model(detector, features=True), path)
    runner.run_ref, runner.detector = ref, detector  # the out-of-distribution statistics are fitted from the run
    return runner
