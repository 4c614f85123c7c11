"""One resize for every path (issue 17 item 4): a face crop scored by ``ltw-tf screen`` and by ``evaluate`` gets the
same probability, also when the crop's size differs from the model's; export's crops are the same pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ltw_tf.data.faces import crop_square, load_detector
from ltw_tf.data.manifest import Face, write_manifest
from ltw_tf.data.resize import resize_face, resize_face_uint8

SIZE = 32  # the model's input side


def _run(run_dir):
    """A run directory holding a tiny detector whose head spreads P(fake) over (0, 1) (std of logits 2)."""
    import keras
    import tensorflow as tf

    from ltw_tf.config import ModelConfig, RunConfig, save_config
    from ltw_tf.models import build_detector

    keras.utils.set_random_seed(0)
    detector = build_detector("tiny", SIZE, weights=None)
    reference = np.random.default_rng(0).integers(0, 256, (32, SIZE, SIZE, 3)).astype(np.float32)
    logits = detector(reference, training=False)[1].numpy()
    head = detector.get_layer("logit")
    head.kernel.assign(head.kernel * (2.0 / logits.std()))
    head.bias.assign((head.bias - logits.mean()) * (2.0 / logits.std()))
    run_dir.mkdir(parents=True)
    save_config(RunConfig(model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE)), run_dir / "config.json")
    tf.train.CheckpointManager(tf.train.Checkpoint(detector=detector), str(run_dir / "best"), 1).save(1)


def _face(path: str) -> Face:
    return Face(path, 0, "synthff", "real", "c23", "test", "v", "000", "", 0)


def test_resize_face_is_identity_at_the_same_size_and_rounds_otherwise():
    crop = np.random.default_rng(0).integers(0, 256, (37, 37, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_face(crop, 37).numpy(), crop.astype(np.float32))
    smaller = resize_face(crop, 16).numpy()
    assert smaller.shape == (16, 16, 3) and np.array_equal(smaller, np.round(smaller))
    assert smaller.min() >= 0 and smaller.max() <= 255
    np.testing.assert_array_equal(resize_face_uint8(crop, 16), smaller.astype(np.uint8))


def test_screen_and_evaluate_give_a_crop_the_same_probability(tmp_path):
    """Screen a frame; cut the square it scored at its own side (not the model's) and at the model's, save both
    as PNGs (lossless) and score them through evaluate's path (manifest -> eval_dataset -> load_detector ->
    predict): the probabilities agree with screen's to 1e-5 (the issue's bound; measured equal), and export's
    calibration crops of them are screen's pixels."""
    from export.crops import load_crops
    from ltw_tf.data.synth.videos import SynthPreset, pair_frames
    from ltw_tf.evaluate import predict
    from ltw_tf.runs import load_detector as load_run
    from ltw_tf.screening import MediaItem, Screener, ScreenSettings, load_runner

    _run(tmp_path / "run")
    rendered = pair_frames(0, SynthPreset("screen", identities=2, frames=4, size=160), 0, 1)
    frame = rendered.videos[("real", "001", "001")][3]
    cv2.imwrite(str(tmp_path / "photo.png"), frame[..., ::-1])
    screener = Screener(load_runner(tmp_path / "run"), ScreenSettings(), detector=load_detector())
    result = screener.screen(MediaItem(str(tmp_path / "photo.png"), "image"))
    assert result.error is None and len(result.frames) == 1
    scored = result.frames[0]
    side = scored.box[2]
    assert side not in (SIZE, 2 * SIZE) and side > SIZE  # the crop is resized (shrunk, by a non-integer factor)

    root = tmp_path / "faces"
    root.mkdir()
    for name, size in (("native.png", None), ("model.png", SIZE)):
        cv2.imwrite(str(root / name), crop_square(frame, scored.box, size)[..., ::-1])
    faces = [_face("native.png"), _face("model.png")]
    write_manifest(root, faces)
    from ltw_tf.data.pipeline import eval_dataset

    detector, _ = load_run(tmp_path / "run")
    _, probs = predict(detector, eval_dataset(faces, root, SIZE, batch_size=1))
    assert probs == pytest.approx([scored.probability] * 2, abs=1e-5)
    assert 0.02 < scored.probability < 0.98  # not saturated: a different resize would move it

    crops = load_crops(faces, root, SIZE, "test").images
    screened = crop_square(frame, scored.box, SIZE)
    np.testing.assert_array_equal(crops[0], screened)
    np.testing.assert_array_equal(crops[1], screened)
