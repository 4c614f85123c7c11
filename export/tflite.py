"""SavedModel -> TFLite: fp32, fp16 weights (for the GPU delegate) and full-integer int8, builtin ops only.

The path is SavedModel -> ``tf.lite.TFLiteConverter.from_saved_model`` (``from_keras_model`` is broken on Keras 3).
``supported_ops`` never includes SELECT_TF_OPS, so no Flex op can ship. The input stays uint8 RGB pixels (already
integer: the model casts them) and the output stays float32 P(fake) in every variant. Outputs are found by their
signature names (``probability``, and ``features`` when the export has them), never by position: the converter
orders them as it likes.

int8 is calibrated on real face crops. The head (the logit layer, its sigmoid and reshape) always stays float:
an int8 logit has 256 levels over its calibrated range and an int8 sigmoid outputs multiples of 1/256, which ties
scores (39 distinct scores over 479 crops on a B0). Parity is judged on labelled crops with a confidence bound:
|AUC(int8) - AUC(float)| plus twice its paired-bootstrap standard error must be within the tolerance; until it
is, the first ops in execution order are kept float, a larger share each round, or the export fails.
See docs/EXPORT.md for why the converter's quantizer is used rather than litert-quantizer.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from export.crops import in_batches
from export.savedmodel import SIGNATURE
from ltw_tf.models.serving import FEATURES_NAME
from ltw_tf.native_logs import native_stderr
from ltw_tf.screening.runners import output_details

log = logging.getLogger(__name__)

QUANTIZATIONS = ("fp32", "fp16", "int8")
DEFAULT_QUANTIZATIONS = ("fp32", "fp16")
INT8_AUC_TOLERANCE = 0.01
FLOAT_PREFIX_STEPS = (0.04, 0.08, 0.16, 0.32, 0.5)  # share of ops (from the input) kept float, round by round
BOOTSTRAP_ROUNDS = 400  # paired resamples of the selection crops for the standard error of the AUC difference


def _converter(saved_model_dir: str | os.PathLike) -> tf.lite.TFLiteConverter:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # builtins only: no Flex ops
    return converter


def convert_float(saved_model_dir: str | os.PathLike, quantization: str = "fp32") -> bytes:
    """fp32, or fp16 (float16 weights dequantized at load; the GPU delegate runs them in half precision)."""
    converter = _converter(saved_model_dir)
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization != "fp32":
        raise ValueError(f"convert_float makes fp32 or fp16, not {quantization!r}")
    return converter.convert()


def tflite_predictor(model: bytes | str | os.PathLike, num_threads: int | None = None) -> Callable:
    """A function uint8 images [N, S, S, 3] -> probabilities [N] running the model with ai_edge_litert."""
    if isinstance(model, bytes):
        interpreter = Interpreter(model_content=model, num_threads=num_threads)
    else:
        interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
    shape: list[int] = []

    def predict(images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, np.uint8)
        if list(images.shape) != shape:
            interpreter.resize_tensor_input(0, images.shape)
            with native_stderr(log):  # LiteRT's "INFO: Created ... XNNPACK delegate" line: -v only
                interpreter.allocate_tensors()
            shape[:] = images.shape
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
        interpreter.invoke()
        return interpreter.get_tensor(output_details(interpreter)["index"]).copy()

    return predict


def tflite_contents(model: bytes | str | os.PathLike) -> dict:
    """What a .tflite holds: op names, tensor names and the input/output dtypes and shapes."""
    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    interpreter = Interpreter(**kwargs, experimental_op_resolver_type=_no_delegate())
    ops = [op["op_name"] for op in interpreter._get_ops_details()]  # no public op listing in the interpreter
    tensors = [t["name"] for t in interpreter.get_tensor_details()]
    inp, out = interpreter.get_input_details()[0], output_details(interpreter)
    features = output_details(interpreter, FEATURES_NAME)
    return {
        "ops": ops,
        "tensors": tensors,
        "input": {"dtype": np.dtype(inp["dtype"]).name, "shape": inp["shape_signature"].tolist()},
        "output": {"dtype": np.dtype(out["dtype"]).name, "shape": out["shape_signature"].tolist()},
        "features": None
        if features is None
        else {"dtype": np.dtype(features["dtype"]).name, "shape": features["shape_signature"].tolist()},
        "signatures": interpreter.get_signature_list(),
    }


def _no_delegate():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def head_nodes(model: bytes) -> list[str]:
    """Output tensor names of the head: every op from the logit layer (FULLY_CONNECTED) to the model output (its
    sigmoid and reshape; a reshape left int8 would re-quantize the float sigmoid to steps of 1/256)."""
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=_no_delegate())
    producer = {int(t): op for op in interpreter._get_ops_details() for t in op["outputs"]}
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    tensor, head = int(output_details(interpreter)["index"]), []
    while tensor in producer:
        op = producer[tensor]
        if op["op_name"] not in ("RESHAPE", "LOGISTIC", "FULLY_CONNECTED", "DEQUANTIZE", "QUANTIZE"):
            break
        if op["op_name"] not in ("DEQUANTIZE", "QUANTIZE"):
            head.append(names[tensor])
        if op["op_name"] == "FULLY_CONNECTED":
            return head
        tensor = int(op["inputs"][0])
    raise ValueError("the model does not end in Dense -> sigmoid: is this a model from export_graph?")


def feature_nodes(model: bytes) -> list[str]:
    """Output tensor names of the features tail: the spatial means of the stage taps and their concatenation
    (kept float in int8: one int8 scale over every stage's range would blur the out-of-distribution score)."""
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=_no_delegate())
    out = output_details(interpreter, FEATURES_NAME)
    if out is None:
        return []
    producer = {int(t): op for op in interpreter._get_ops_details() for t in op["outputs"]}
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    tail, pending = [], [int(out["index"])]
    while pending:
        tensor = pending.pop()
        op = producer.get(tensor)
        if op is None or op["op_name"] not in ("CONCATENATION", "MEAN", "RESHAPE", "DEQUANTIZE", "QUANTIZE"):
            continue
        if op["op_name"] not in ("DEQUANTIZE", "QUANTIZE"):
            tail.append(names[tensor])
        if op["op_name"] != "MEAN":
            pending.extend(int(t) for t in op["inputs"] if t >= 0)
    return tail


@contextlib.contextmanager
def _quiet_tf_interpreter():
    """The debugger runs its own models on tf.lite.Interpreter, whose deprecation warning is not ours to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        yield


@dataclass
class Int8Model:
    """A full-integer model, the ops kept float (beyond the head) and the parity reached when choosing them."""

    model: bytes
    float_nodes: list[str] = field(default_factory=list)
    selection_auc: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ParityCheck:
    """Labelled uint8 crops and the float model's probabilities on them: what int8 must rank alike."""

    images: np.ndarray
    labels: np.ndarray
    reference: np.ndarray
    source: str = ""


class Int8Quantizer:
    """Calibrate once on uint8 crops, then quantize with any set of ops kept float (denylisted)."""

    def __init__(self, saved_model_dir: str | os.PathLike, images: np.ndarray):
        if len(images) == 0:
            raise ValueError("int8 needs calibration crops")
        self.images = np.asarray(images, np.uint8)
        converter = _converter(saved_model_dir)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # per-channel weights (the default)
        converter.representative_dataset = self._samples
        with _quiet_tf_interpreter():
            self.debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_options=tf.lite.experimental.QuantizationDebugOptions()
            )
        self.head = head_nodes(self.debugger.calibrated_model) + feature_nodes(self.debugger.calibrated_model)
        self.ops = [name for name in op_outputs(self.debugger.calibrated_model) if name not in self.head]

    def _samples(self):
        for image in self.images:
            yield [image[None]]

    def quantize(self, float_nodes: Sequence[str] = ()) -> bytes:
        """The int8 model with ``float_nodes`` (op output tensor names), the head (logit, sigmoid) and the features
        tail left float."""
        nodes = sorted({*self.head, *float_nodes})
        with _quiet_tf_interpreter():
            self.debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
        return self.debugger.get_nondebug_quantized_model()

    def float_prefix(self, fraction: float) -> list[str]:
        """The first ``fraction`` of the ops in execution order (stem and early blocks first)."""
        return self.ops[: math.ceil(fraction * len(self.ops))]


def op_outputs(model: bytes) -> list[str]:
    """Each op's first output tensor name, in execution order."""
    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=_no_delegate())
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    return [names[int(op["outputs"][0])] for op in interpreter._get_ops_details() if len(op["outputs"])]


def _auc(labels: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs))


@dataclass(frozen=True)
class AucGap:
    """int8 vs float AUC on labelled crops: the difference, its paired-bootstrap standard error and the bound
    |difference| + 2 standard errors that must be within the tolerance."""

    float_auc: float
    int8_auc: float
    stderr: float

    @property
    def delta(self) -> float:
        return self.int8_auc - self.float_auc

    @property
    def bound(self) -> float:
        return abs(self.delta) + 2.0 * self.stderr


def auc_gap(
    labels: np.ndarray, reference: np.ndarray, probs: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> AucGap:
    """AUC difference of ``probs`` vs ``reference`` on the same crops, with its standard error from ``rounds``
    paired bootstrap resamples (both scorers see the same resampled crops; one-class resamples are skipped).

    On weakly trained models int8 reorders many near-tied scores and the AUC difference on a few hundred crops
    is mostly noise: measured on 64 px synthff models (docs/EXPORT.md), a point difference of 0.001 on the val
    crops came with -0.027 on the test crops. The bound asks for evidence, not luck."""
    labels, reference, probs = (np.asarray(a, np.float64).ravel() for a in (labels, reference, probs))
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(rounds):
        i = rng.integers(0, len(labels), len(labels))
        if 0 < labels[i].sum() < len(i):
            deltas.append(_auc(labels[i], probs[i]) - _auc(labels[i], reference[i]))
    stderr = float(np.std(deltas, ddof=1)) if len(deltas) > 1 else float("inf")
    return AucGap(_auc(labels, reference), _auc(labels, probs), stderr)


def convert_int8(
    saved_model_dir: str | os.PathLike,
    images: np.ndarray,
    check: ParityCheck | None = None,
    tolerance: float = INT8_AUC_TOLERANCE,
) -> Int8Model:
    """Full-integer int8 calibrated on ``images``. With a ``check`` (labelled crops, ideally not the calibration
    ones), the first ops in execution order are kept float, a larger share each round (``FLOAT_PREFIX_STEPS``),
    until |AUC difference| + 2 standard errors on those crops is within ``tolerance`` (``auc_gap``); quantization
    error compounds through the depth of an EfficientNet (swish after every conv), so early layers matter most."""
    quantizer = Int8Quantizer(saved_model_dir, images)
    model = quantizer.quantize()
    if check is None or len(np.unique(check.labels)) < 2:
        return Int8Model(model)

    def gap(candidate: bytes) -> AucGap:
        return auc_gap(check.labels, check.reference, in_batches(tflite_predictor(candidate), check.images))

    result, nodes = gap(model), []
    for fraction in FLOAT_PREFIX_STEPS:
        if result.bound <= tolerance:
            break
        nodes = quantizer.float_prefix(fraction)
        log.info(
            "int8 AUC %.4f vs float %.4f (+-%.4f): keeping the first %d ops float",
            result.int8_auc,
            result.float_auc,
            result.stderr,
            len(nodes),
        )
        model = quantizer.quantize(nodes)
        result = gap(model)
    if result.bound > tolerance:
        raise RuntimeError(
            f"int8 misses parity even with the first {len(nodes)} of {len(quantizer.ops)} ops kept "
            f"float: AUC {result.int8_auc:.4f} vs float {result.float_auc:.4f} (standard error "
            f"{result.stderr:.4f}) on {len(check.labels)} crops; export fp32/fp16 only "
            "(--quantize fp32,fp16)"
        )
    return Int8Model(
        model,
        nodes,
        {"float": result.float_auc, "int8": result.int8_auc, "stderr": result.stderr, "crops": int(len(check.labels))},
    )


def write_bytes(model: bytes, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_bytes(model)
    return path
