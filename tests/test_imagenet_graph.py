"""Runs started from Keras' ImageNet weights load again (issue 17 item 1), offline.

Keras builds EfficientNet B0-B7 with one more stem layer (``Rescaling(1/sqrt(stddev))``) for ``weights="imagenet"``.
Here Keras' download (``file_utils.get_file``, as ``keras.src.applications.efficientnet`` calls it) returns a local
weights file of a random-init ImageNet graph, so ``--weights imagenet`` runs offline; then every loader (evaluate,
benchmark reuse, export, screen, weights) must restore the run and give the in-memory model's probabilities.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.utils import file_utils

from ltw_tf.config import load_config
from ltw_tf.models import BACKBONES, build_backbone
from ltw_tf.runs import finalize_restored
from toy import ff_manifest

SIZE = 32  # EfficientNet's smallest input


def _imagenet_file(tmp_path, name: str):
    """A .weights.h5 of Keras' ImageNet graph of ``name`` (random init; Normalization holds ImageNet's statistics,
    as Keras' file does, so the stem sees what the pretrained model's stem sees)."""
    from keras.src.applications import efficientnet

    model = build_backbone(name, SIZE, graph="imagenet")
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    norm.adapt_mean.assign(np.reshape([0.485, 0.456, 0.406], norm.adapt_mean.shape))
    norm.adapt_variance.assign(np.reshape(efficientnet.IMAGENET_STDDEV_RGB, norm.adapt_variance.shape) ** 2)
    path = tmp_path / f"{name}-imagenet.weights.h5"
    model.save_weights(path)
    return model, path


@pytest.fixture
def offline_imagenet(tmp_path, monkeypatch):
    """Make ``weights="imagenet"`` load local files: returns a function registering one per backbone."""
    files = {}

    def get_file(fname=None, origin=None, **kwargs):
        del origin, kwargs
        key = next((k for k in files if fname.startswith(k)), None)
        if key is None:
            raise AssertionError(f"unexpected download of {fname}")
        return str(files[key])

    monkeypatch.setattr(file_utils, "get_file", get_file)

    def register(name: str) -> keras.Model:
        """Keras' ImageNet weights of ``name`` are now a file saved from the model returned."""
        model, files[name.replace("_", "")] = _imagenet_file(tmp_path, name)  # Keras': efficientnetb0_notop.h5
        return model

    return register


def _keras_imagenet(name: str) -> keras.Model:
    return BACKBONES[name].build(include_top=False, weights="imagenet", input_shape=(SIZE, SIZE, 3))


def _ulps(a, b) -> np.ndarray:
    """|a - b| in float32 ulps of the larger value."""
    a, b = np.float32(a), np.float32(b)
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


# ------------------------------------------------------------- the graph itself, for every entry that differs


def test_registry_knows_which_keras_builds_differ():
    """EfficientNet B-series have a distinct ImageNet graph; Xception / ResNet50 / VGG19 (Keras builds them the same
    for both weights, checked by reading keras/src/applications) and the project's own builders do not."""
    differ = {name for name, spec in BACKBONES.items() if spec.imagenet_graph is not None}
    assert differ == {"efficientnet_b0", "efficientnet_b2", "efficientnet_b4"}


@pytest.mark.parametrize(
    "name",
    [
        "efficientnet_b0",
        pytest.param("efficientnet_b2", marks=pytest.mark.slow),
        pytest.param("efficientnet_b4", marks=pytest.mark.slow),
    ],
)
def test_imagenet_graph_built_offline_is_keras_own(name, offline_imagenet, tmp_path):
    """build_backbone(graph="imagenet") (no download) == Keras' weights="imagenet" build: same layers in the same
    order, Keras' checkpoint restores into ours, same outputs; B0: the plain graph does not restore it (the bug)."""
    ours = offline_imagenet(name)  # the file Keras "downloads" is saved from build_backbone(graph="imagenet")
    keras_model = _keras_imagenet(name)
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in keras_model.layers]
    assert [v.shape for v in ours.weights] == [v.shape for v in keras_model.weights]
    prefix = tf.train.Checkpoint(m=keras_model).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(m=ours).read(prefix).assert_existing_objects_matched()
    finalize_restored(ours)
    x = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_array_equal(ours(x).numpy(), keras_model(x).numpy())  # same graph, same variables
    if name == "efficientnet_b0":
        with pytest.raises((ValueError, AssertionError, tf.errors.OpError)):
            plain = build_backbone(name, SIZE)
            tf.train.Checkpoint(m=plain).read(prefix).assert_existing_objects_matched()


def test_weights_file_from_the_imagenet_graph_needs_that_graph(offline_imagenet, tmp_path):
    """A B0 .weights.h5 saved from Keras' ImageNet build: ``ltw-tf train`` records graph "imagenet" for it, the
    file loads into that graph (Keras' outputs), and the plain graph refuses it naming the graph to use (it used to
    load there silently, the stem seeing ~2.1x different inputs)."""
    from ltw_tf.run import with_graph

    offline_imagenet("efficientnet_b0")
    keras_model = _keras_imagenet("efficientnet_b0")
    path = tmp_path / "from-keras.weights.h5"
    keras_model.save_weights(path)
    config = load_config(overrides={"model.weights": str(path)})
    assert with_graph(config).model.graph == "imagenet"
    assert with_graph(load_config(overrides={"model.weights": "none"})).model.graph == "plain"
    ours = build_backbone("efficientnet_b0", SIZE, weights=str(path), graph="imagenet")
    x = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_array_equal(ours(x).numpy(), keras_model(x).numpy())
    with pytest.raises(ValueError, match="saved from the 'imagenet' graph: set model.graph=imagenet"):
        build_backbone("efficientnet_b0", SIZE, weights=str(path))


# ------------------------------------------------------------- a trained run through every loader


@pytest.mark.slow  # ~60 CPU s: a B0 step, five rebuilds and a SavedModel
def test_every_loader_restores_an_imagenet_started_run(offline_imagenet, tmp_path):
    """One step of LTW (beta = 0: a first-order step, still with p(w) in the checkpoint) on B0 at 32 px, batch 2,
    from Keras' ImageNet weights; every loader gives the in-memory models' outputs."""
    from export import export_run, plan_export
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.evaluate import evaluate_run, face_weights, predict, weight_fn
    from ltw_tf.models.serving import serving_model
    from ltw_tf.run import build_trainer
    from ltw_tf.screening import load_runner
    from ltw_tf.screening.runners import SavedModelRunner
    from ltw_tf.study import settings_hash

    offline_imagenet("efficientnet_b0")
    root = tmp_path / "faces"
    ff_manifest(root, n_targets=6, splits=lambda t: "train" if t < 2 else ("val", "test")[t % 2])
    overrides = {
        "model.backbone": "efficientnet_b0",
        "model.weights": "imagenet",
        "model.image_size": SIZE,
        "data.data_root": str(root),
        "train.method": "ltw",
        "train.beta": 0.0,
        "train.epochs": 1,
        "train.steps_per_epoch": 1,
        "train.batch_size": 2,
    }
    run = tmp_path / "run"
    trainer = build_trainer(load_config(overrides=overrides), run, progress=False)
    trainer.fit()
    detector, weight_net = trainer.method.detector, trainer.method.weight_net
    saved = load_config(run / "config.json")
    assert saved.model.graph == "imagenet"  # recorded for the loaders; not part of the study's settings hash
    assert settings_hash(saved) == settings_hash(load_config(overrides=overrides))

    # evaluate, which `ltw-tf benchmark` / study reuse of a finished run also calls
    report = evaluate_run(run)
    assert report["checkpoint"].endswith("best/ckpt-1")
    for name, target in report["targets"].items():
        _, expected = predict(detector, eval_dataset(_target_faces(root, name), root, SIZE, 64))
        np.testing.assert_array_equal(target["probs"], expected)  # same graph, variables and batches: same floats

    # screen (a run directory) and export (SavedModel) on uint8 crops
    crops = np.random.default_rng(2).integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    expected = serving_model(detector)(crops).numpy()
    # the run directory's runner traces the same float32 graph in a tf.function, the export is a SavedModel: both
    # go through Grappler's rewrites (fused ops sum in another order). Measured: 0 ulps on AMD EPYC AVX2 (oneDNN
    # off) and on Intel Xeon AVX-512 with oneDNN on; 1 ulp on that Xeon with TF_ENABLE_ONEDNN_OPTS=0. A wrong graph
    # or a stale stem Normalization moves probabilities by far more than 64 ulps
    screened = load_runner(run).predict(crops)
    assert _ulps(screened, expected).max() <= 64, (screened, expected)
    out = tmp_path / "export"
    export_run(plan_export(run, out=out, savedmodel=True))
    exported = SavedModelRunner(next(out.rglob("saved_model.pb")).parent).predict(crops)
    assert _ulps(exported, expected).max() <= 64, (exported, expected)

    # weights: the detector and p(w) of the latest training checkpoint
    report = face_weights(run, batch_size=64, mode="inference")
    images = np.concatenate([x for x, _ in eval_dataset(report["faces"], root, SIZE, 64)])
    np.testing.assert_array_equal(report["weights"], weight_fn(detector, weight_net)(images).numpy().astype(np.float64))


def _target_faces(root, name):
    from ltw_tf.benchmarks import get_benchmark, target_faces
    from ltw_tf.data.manifest import read_manifest

    return target_faces(get_benchmark("gid-fs23"), read_manifest(root), split="test")[name]
