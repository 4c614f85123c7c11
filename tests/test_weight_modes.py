"""p(w) as training used it (issue 17 item 6): its BN follows the run's ``model.bn_momentum``, and ``ltw-tf weights``
(paper Fig. 4) shows the weights the meta step applied, i.e. with batch statistics, not BN's moving statistics."""

from __future__ import annotations

import json

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from cli.main import main
from ltw_tf.config import load_config
from toy import ff_manifest

SIZE = 16
BATCH = 6


def _bn_momenta(model: keras.Model) -> set[float]:
    return {
        float(layer.momentum)
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step LTW run (tiny backbone, --bn-momentum 0.5) on the toy FF++ root: (run_dir, root, in-memory method)."""
    from ltw_tf.run import build_trainer

    tmp = tmp_path_factory.mktemp("weights")
    root = tmp / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    config = load_config(
        overrides={
            "model.backbone": "tiny",
            "model.weights": "none",
            "model.image_size": SIZE,
            "model.bn_momentum": 0.5,
            "data.data_root": str(root),
            "train.method": "ltw",
            "train.epochs": 1,
            "train.steps_per_epoch": 2,
            "train.batch_size": BATCH,
        }
    )
    trainer = build_trainer(config, tmp / "run", progress=False)
    trainer.fit()
    return tmp / "run", root, trainer.method


def test_weight_net_batch_norm_follows_the_run_momentum(run):
    from ltw_tf.evaluate import load_weight_net

    run_dir, _, method = run
    assert _bn_momenta(method.detector) == {0.5}
    assert _bn_momenta(method.weight_net) == {0.5}  # was Keras' 0.99 whatever --bn-momentum said
    _, weight_net, _ = load_weight_net(run_dir)
    assert _bn_momenta(weight_net) == {0.5}


def test_batch_statistics_weights_are_what_the_meta_step_applied():
    """``batch_statistics_weights`` == the weights inside ``meta_step`` (its logged mean and std over the batch), with
    p(w)'s dropout 0 so the step is deterministic; inference mode (fresh moving statistics) is far from them."""
    from ltw_tf.evaluate import batch_statistics_weights
    from ltw_tf.methods import meta_step
    from ltw_tf.models import build_detector, build_weight_net
    from ltw_tf.models.detector import feature_shape

    keras.utils.set_random_seed(3)
    detector = build_detector("tiny", 32, weights=None)
    weight_net = build_weight_net(feature_shape(detector), dropout=0.0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    labels = np.array([0, 1] * 4, np.float32)
    _, _, logs, _, _ = meta_step(detector, weight_net, (images, labels), None, alpha=1e-3, beta=0.0, lam=0.0)
    applied = batch_statistics_weights(detector, weight_net, images)
    # 8 float32 weights in (0, 1) summed two ways: each sum rounds within 8 ulp(1.0)
    bound = 8 * float(np.spacing(np.float32(1.0)))
    assert applied.mean() == pytest.approx(float(logs["weight_mean"]), abs=bound)
    assert applied.std() == pytest.approx(float(logs["weight_std"]), abs=bound)
    inference = weight_net(detector(images, training=False)[0], training=False).numpy().ravel()
    assert np.abs(inference - applied).max() > 100 * bound


def _independent_batch_weights(run_dir, root, faces_by_path):
    """The weights the meta step applies, computed here: the run's detector and p(w) restored from its checkpoint,
    balanced batches (``balanced_batches``: the meta-train batches' half real, half fake at the run's batch size and
    seed), BN in training mode on each batch, p(w)'s dropout left out, crops decoded with OpenCV."""
    from ltw_tf.evaluate import balanced_batches
    from ltw_tf.models import build_detector, build_weight_net
    from ltw_tf.models.detector import feature_shape

    detector = build_detector("tiny", SIZE, weights=None)
    weight_net = build_weight_net(feature_shape(detector))
    tf.train.Checkpoint(detector=detector, weight_net=weight_net).restore(
        tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    ).expect_partial()
    faces = list(faces_by_path.values())
    out = {}
    for rows in balanced_batches(np.array([f.label for f in faces]), BATCH, seed=0):
        crops = np.stack([cv2.imread(str(root / faces[i].path))[..., ::-1] for i in rows]).astype(np.float32)
        images = tf.round(tf.image.resize(crops, [SIZE, SIZE], antialias=True))
        x = detector(images, training=True)[0]
        for layer in weight_net.layers[1:]:
            if not isinstance(layer, keras.layers.Dropout):
                x = layer(x, training=True) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
        for i, w in zip(rows, x.numpy().ravel()):
            out.setdefault(faces[i].path, float(w))  # a face's first batch
    return out


def test_weights_command_shows_the_weights_the_meta_step_applied(run, tmp_path):
    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.reporting import grid_size

    run_dir, root, _ = run
    out = tmp_path / "fig4.png"
    result = CliRunner().invoke(main, ["weights", str(run_dir), "--n", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["mode"] == "batch" and "batch statistics" in summary["mode_text"]
    assert cv2.imread(str(out)).shape == (*grid_size(2, titled=True), 3)  # the title line says which weights
    faces = source_faces(get_benchmark("gid-fs23"), read_manifest(root), split="train")
    expected = _independent_batch_weights(run_dir, root, {f.path: f for f in faces})
    assert len(expected) == summary["n_faces"] == len(faces)
    for side in ("fake", "real"):
        for entry in summary["faces"][side]["highest"] + summary["faces"][side]["lowest"]:
            # the same float32 ops on the same pixels; 16 ulp of weights < 1 covers any reordering of sums
            assert entry["weight"] == pytest.approx(
                expected[entry["path"]], abs=16 * float(np.spacing(np.float32(1.0)))
            )
    values = np.array(list(expected.values()))
    assert summary["stats"]["all"]["mean"] == pytest.approx(values.mean(), abs=16 * float(np.spacing(np.float32(1.0))))

    inference = CliRunner().invoke(
        main, ["weights", str(run_dir), "--mode", "inference", "--out", str(out), "--overwrite", "--json"]
    )
    assert inference.exit_code == 0, inference.output
    other = json.loads(inference.output)
    assert other["mode"] == "inference" and other["stats"]["all"]["mean"] != summary["stats"]["all"]["mean"]


def test_balanced_batches_cover_every_face_with_the_training_balance():
    from ltw_tf.evaluate import balanced_batches

    labels = np.array([0] * 5 + [1] * 13)
    batches = balanced_batches(labels, 6, seed=1)
    assert all(len(b) == 6 and (labels[b] == 0).sum() == 3 for b in batches)
    assert set(np.concatenate(batches)) == set(range(len(labels)))
    assert len(batches) == 5  # ceil(13 fakes / 3 per batch); the 5 reals cycle to fill
    only_fakes = balanced_batches(np.ones(7, int), 4, seed=0)
    assert sorted(np.concatenate(only_fakes)) == list(range(7))
