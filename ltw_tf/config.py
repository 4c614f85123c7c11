"""Run configuration: typed dataclasses, the one source of truth; files and CLI flags override fields.

Defaults are the paper's "Implementation Details" (ALGORITHM.md): Adam 1e-3 for detector and weight net,
StepLR(5, 0.1), alpha = 1e-3, beta = 1, lambda = 0.01, batch 25, 224 px, EfficientNet-B0.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from ltw_tf.io import atomic_write_text


@dataclass
class ModelConfig:
    backbone: str = "efficientnet_b0"
    weights: str | None = "imagenet"  # None / "none" | "imagenet" | path to backbone weights
    image_size: int = 224
    bn_momentum: float | None = None  # BatchNorm moving-statistics momentum; None: the backbone's own (0.99 in Keras)
    # the backbone's Keras graph, "plain" | "imagenet" (EfficientNet B: an extra stem Rescaling); `ltw-tf train`
    # records what the weights need; None (runs from before): "imagenet" iff weights == "imagenet"
    graph: str | None = None

    def backbone_graph(self) -> str:
        """The backbone graph of the run: the recorded ``graph``; a run recorded before it existed built Keras'
        ImageNet graph exactly when ``weights`` was "imagenet"."""
        return self.graph or ("imagenet" if self.weights == "imagenet" else "plain")


@dataclass
class DataConfig:
    benchmark: str = "gid-fs23"
    data_root: str | None = None  # prepared face-crop root (manifest.csv); LTW_DATA_ROOT if unset
    num_workers: int = 2


@dataclass
class TrainConfig:
    method: str = "ltw"
    epochs: int = 10
    batch_size: int = 25
    lr: float = 1e-3  # gamma: detector Adam learning rate
    weight_lr: float = 1e-3  # phi: weight-net Adam learning rate
    alpha: float = 1e-3  # virtual-update step (Eq. 2)
    beta: float = 1.0  # meta-test weight (Eq. 4)
    lam: float = 0.01  # ICC weight (Eq. 11)
    lr_step: int = 5  # StepLR step size, epochs
    lr_gamma: float = 0.1  # StepLR factor
    focal_gamma: float = 2.0
    weight_net_dropout: float = 0.5
    seed: int = 0
    steps_per_epoch: int | None = None  # None: one pass over the data
    jit_compile: bool = False
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism (exact resume on GPU)
    strategy: str = "default"  # tf.distribute: default | mirrored | multiworker (docs/DISTRIBUTED.md)
    graph_optimizer: str = "on"  # Grappler: on | off (faster first call, slower steps; ltw_tf/runtime.py)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build from a nested dict, rejecting unknown sections and keys by name."""
        config = cls()
        return config.override(raw)

    def override(self, raw: dict[str, Any]) -> RunConfig:
        """Return a copy with ``{"section": {"key": value}}`` (or ``{"section.key": value}``) applied."""
        updates: dict[str, dict[str, Any]] = {}
        for key, value in raw.items():
            if "." in key:
                section, name = key.split(".", 1)
                updates.setdefault(section, {})[name] = value
            elif isinstance(value, dict):
                updates.setdefault(key, {}).update(value)
            else:
                raise ValueError(f"config key {key!r} must be a section ({', '.join(self._sections())})")
        sections = {}
        for section, values in updates.items():
            if section not in self._sections():
                raise ValueError(f"unknown config section {section!r}; valid: {', '.join(self._sections())}")
            current = getattr(self, section)
            valid = {f.name for f in dataclasses.fields(current)}
            unknown = sorted(set(values) - valid)
            if unknown:
                raise ValueError(f"unknown {section} setting(s) {unknown}; valid: {', '.join(sorted(valid))}")
            types = {f.name: f.type for f in dataclasses.fields(current)}
            values = {k: _coerce(f"{section}.{k}", types[k], v) for k, v in values.items()}
            sections[section] = dataclasses.replace(current, **values)
        return dataclasses.replace(self, **sections)

    @staticmethod
    def _sections() -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(RunConfig))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(key: str, annotation: str, value: Any) -> Any:
    """Convert a file/CLI value to the field's declared type (YAML 1.1 reads ``1e-3`` as a string)."""
    kinds = [part.strip() for part in str(annotation).split("|")]
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if "None" in kinds:
            return None
        raise ValueError(f"config {key} must not be empty")
    if isinstance(value, bool) and "str" in kinds and "bool" not in kinds:  # YAML 1.1: a bare on/off/yes/no
        raise ValueError(f"config {key}={value!r}: a bare on/off/yes/no in YAML is a boolean; quote it")
    try:
        if "bool" in kinds:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text not in _TRUE | _FALSE:
                raise ValueError(value)
            return text in _TRUE
        if "int" in kinds:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if "float" in kinds:
            return float(value)
        if "str" in kinds:
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"config {key}={value!r} is not a valid {' | '.join(kinds)}") from None
    return value


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then a JSON/YAML file, then ``overrides`` (e.g. CLI flags)."""
    config = RunConfig()
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) if str(path).endswith((".yaml", ".yml")) else json.load(fh)
        if not isinstance(raw, dict):
            raise ValueError(f"config file {path} must hold a mapping of sections")
        config = config.override(raw)
    if overrides:
        config = config.override(overrides)
    return config


def save_config(config: RunConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as JSON atomically (temp file, then rename)."""
    text = json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"  # fails before any file is touched
    atomic_write_text(path, text)
