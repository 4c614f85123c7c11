"""Tests for ltw_tf.config: paper defaults, overrides, JSON/YAML loading and atomic saving."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from ltw_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig, load_config, save_config


def test_defaults_are_the_papers():
    config = RunConfig()
    train = config.train
    assert train.lr == 1e-3  # detector Adam, gamma
    assert train.weight_lr == 1e-3  # weight-net Adam, phi
    assert train.alpha == 1e-3  # virtual step, Eq. 2
    assert train.beta == 1.0  # meta-test weight, Eq. 4
    assert train.lam == 0.01  # ICC weight, Eq. 11
    assert train.batch_size == 25
    assert train.lr_step == 5
    assert train.lr_gamma == 0.1
    assert config.model.image_size == 224
    assert config.model.backbone == "efficientnet_b0"
    assert config.model.weights == "imagenet"
    assert train.method == "ltw"
    assert train.weight_net_dropout == 0.5
    assert load_config() == config  # no file, no overrides: the defaults


def test_to_dict_has_the_three_sections():
    raw = RunConfig().to_dict()
    assert set(raw) == {"model", "data", "train"}
    assert raw["train"]["lam"] == 0.01
    assert RunConfig.from_dict(raw) == RunConfig()


def test_override_with_nested_dict_returns_a_copy():
    base = RunConfig()
    new = base.override({"train": {"epochs": 3, "lr": 5e-4}, "model": {"backbone": "tiny", "image_size": 32}})
    assert new.train.epochs == 3
    assert new.train.lr == 5e-4
    assert new.model.backbone == "tiny"
    assert new.model.image_size == 32
    assert new.train.batch_size == 25  # untouched fields keep their defaults
    assert new.data == DataConfig()
    assert base == RunConfig()  # the original is not mutated
    assert base.train.epochs == 10


def test_override_with_dotted_keys():
    new = RunConfig().override({"train.epochs": 7, "model.weights": None, "data.num_workers": 0})
    assert new.train.epochs == 7
    assert new.model.weights is None
    assert new.data.num_workers == 0
    assert new.train == TrainConfig(epochs=7)
    assert new.model == ModelConfig(weights=None)


def test_override_mixes_nested_and_dotted_keys():
    new = RunConfig().override({"train": {"lr": 2e-4}, "train.epochs": 4})
    assert (new.train.lr, new.train.epochs) == (2e-4, 4)


def test_from_dict_is_defaults_plus_overrides():
    config = RunConfig.from_dict({"train": {"beta": 0.0}})
    assert config == RunConfig().override({"train.beta": 0.0})
    assert config.train.beta == 0.0


@pytest.mark.parametrize("raw", [{"optimizer": {"lr": 1.0}}, {"optimizer.lr": 1.0}])
def test_unknown_section_is_a_value_error_naming_it(raw):
    with pytest.raises(ValueError, match="unknown config section 'optimizer'") as err:
        RunConfig().override(raw)
    for section in ("model", "data", "train"):
        assert section in str(err.value)


@pytest.mark.parametrize("raw", [{"train": {"learning_rate": 1.0}}, {"train.learning_rate": 1.0}])
def test_unknown_key_is_a_value_error_naming_it(raw):
    with pytest.raises(ValueError, match="learning_rate") as err:
        RunConfig().override(raw)
    assert "train" in str(err.value)
    assert "weight_lr" in str(err.value)  # the valid keys are listed


def test_non_section_top_level_value_is_rejected():
    with pytest.raises(ValueError, match="'epochs' must be a section"):
        RunConfig().override({"epochs": 3})


def test_load_config_from_json(tmp_path):
    path = tmp_path / "run.json"
    raw = {"train": {"epochs": 2, "lam": 0.0}, "model.backbone": "tiny"}
    path.write_text(json.dumps(raw), encoding="utf-8")
    config = load_config(path)
    assert config.train.epochs == 2
    assert config.train.lam == 0.0
    assert config.model.backbone == "tiny"
    assert config.train.lr == 1e-3
    # Overrides (CLI flags) are applied after the file.
    assert load_config(str(path), overrides={"train.epochs": 9}).train.epochs == 9


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_load_config_from_yaml(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    path.write_text(
        "model:\n  backbone: tiny\n  image_size: 64\n  weights: null\n"
        "train:\n  epochs: 1\n  lr: 0.0005\n  method: mldg\n",
        encoding="utf-8",
    )
    config = load_config(path, overrides={"train": {"lr": 2.0e-4}})
    assert config.model == ModelConfig(backbone="tiny", image_size=64, weights=None)
    assert config.train.epochs == 1
    assert config.train.method == "mldg"
    assert config.train.lr == 2e-4


def test_load_config_rejects_unknown_keys_in_a_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochz: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="epochz"):
        load_config(path)


def test_load_config_rejects_a_non_mapping_file(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping"):
        load_config(path)


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("train:\n  lr: 1e-3\n", encoding="utf-8")
    assert load_config(path).train.lr == 1e-3


def test_yaml_bare_off_in_a_text_field_says_to_quote_it(tmp_path):
    path = tmp_path / "grappler.yaml"
    path.write_text("train:\n  graph_optimizer: off\n", encoding="utf-8")  # YAML 1.1: the boolean false
    with pytest.raises(ValueError, match=r"train.graph_optimizer=False: a bare on/off/yes/no in YAML is a boolean"):
        load_config(path)
    path.write_text('train:\n  graph_optimizer: "off"\n', encoding="utf-8")
    assert load_config(path).train.graph_optimizer == "off"


def test_save_config_is_atomic_and_round_trips(tmp_path):
    config = RunConfig().override({"train.epochs": 3, "model": {"backbone": "tiny", "weights": None}})
    path = tmp_path / "config.json"
    save_config(config, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no config.json.tmp left behind
    assert json.loads(path.read_text(encoding="utf-8")) == config.to_dict()
    assert load_config(path) == config
    # Overwriting an existing file goes through the same rename.
    save_config(RunConfig(), str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    assert load_config(path) == RunConfig()


def test_save_config_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "config.json"
    save_config(RunConfig(), path)
    before = path.read_text(encoding="utf-8")
    config = RunConfig()
    # override() coerces to the field type, so inject a bad value behind its back.
    unserialisable = dataclasses.replace(config, data=dataclasses.replace(config.data, data_root=object()))
    with pytest.raises(TypeError):
        save_config(unserialisable, path)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_saved_yaml_equivalent_loads_the_same(tmp_path):
    config = RunConfig().override({"train.lam": 0.0, "train.epochs": 2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()), encoding="utf-8")
    assert load_config(path) == config
