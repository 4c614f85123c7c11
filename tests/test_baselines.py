"""The autoencoder baselines' data and plumbing: synthff masks -> prepare -> training batch, the missing-mask
error, and export of an autoencoder method's classifier path (its toy-set AUC is in test_methods.py)."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from cli.main import main
from export import export_run, plan_export
from export.savedmodel import savedmodel_predictor, savedmodel_variables
from ltw_tf.config import ModelConfig, RunConfig, TrainConfig, save_config
from ltw_tf.data.faces import crop_square, load_detector
from ltw_tf.data.manifest import read_manifest
from ltw_tf.data.pipeline import ManifestEpochs
from ltw_tf.data.prepare import DONE_DIR, prepare, video_key
from ltw_tf.data.source import BatchRequest
from ltw_tf.data.sources import list_videos
from ltw_tf.data.synth.codec import read_video
from ltw_tf.data.synth.videos import changed_pixels, mask_path, pair_frames
from ltw_tf.data.synthetic import FAMILIES, SynthPreset, generate, make_pairs
from ltw_tf.methods import METHODS
from ltw_tf.run import run_inputs
from ltw_tf.tables import METHOD_LABELS, TABLES, RunRecord, build_table
from ltw_tf.trainer import build_from_config
from toy import ff_manifest

PRESET = SynthPreset("masks-test", identities=6, frames=3, size=128)
SIZE = 64  # face crops and model input: equal, so the batch's masks are the crops thresholded (no resize)


def test_synthff_masks_round_trip_to_the_training_batch(tmp_path):
    data, faces = tmp_path / "sff", tmp_path / "faces"
    generate(data, preset=PRESET, qualities=("c23",), progress=False)
    before = {p: p.read_bytes() for p in data.rglob("*.mp4")}
    summary = generate(data, preset=PRESET, qualities=("c23",), progress=False, masks=True)  # masks added later
    assert summary["masks"] and json.loads((data / "synthff.json").read_text())["masks"]
    assert {p: p.read_bytes() for p in before} == before  # the videos are untouched, byte for byte
    masks = sorted(data.glob("manipulated_sequences/*/masks/videos/*.mp4"))
    assert len(masks) == len(FAMILIES) * PRESET.identities

    a, b = make_pairs(0, PRESET.identities)[0]
    target, source = f"{a:03d}", f"{b:03d}"
    videos = [v for v in list_videos("synthff", data, qualities=("c23",)) if v.target_id == target]
    assert {v.domain for v in videos} == {"real", *FAMILIES}
    assert all(bool(v.mask) == (v.label == 1) for v in videos)
    prepare(videos, faces, frames=PRESET.frames, size=SIZE, detector=load_detector(), progress=False)

    rendered = pair_frames(0, PRESET, a, b)
    rows = read_manifest(faces)
    fakes = [f for f in rows if f.label == 1]
    assert len(fakes) >= len(FAMILIES) and all(f.mask for f in fakes) and not any(f.mask for f in rows if not f.label)
    truth = {}
    for face in fakes:
        record = json.loads((faces / DONE_DIR / f"{video_key(face)}.json").read_text())
        region = changed_pixels(
            rendered.videos[(face.domain, target, source)][face.frame],
            rendered.videos[("real", target, target)][face.frame],
        )
        # the decoded mask video deviates from 0 / 255 by at most `codec` levels; cropping and resizing average
        # neighbours (a convex combination) and round once, so the crop may deviate by codec + 1 levels
        decoded = read_video(mask_path(data, face.domain, target, source))[face.frame].max(-1).astype(int)
        codec = int(np.abs(decoded - 255 * region).max())
        expected = crop_square(np.where(region, 255, 0).astype(np.uint8), record["boxes"][str(face.frame)], SIZE)
        crop = cv2.imread(str(faces / face.mask), cv2.IMREAD_UNCHANGED)
        assert crop.shape == (SIZE, SIZE) and region.mean() > 0.01
        assert np.abs(crop.astype(int) - expected).max() <= codec + 1
        truth[face.path] = expected.astype(float)

    epochs = ManifestEpochs(rows, faces, FAMILIES, seed=0, batch_size=6, image_size=SIZE, masks=True)
    request = BatchRequest(masks=True)
    plan, seen = epochs.plan(0, request).batches, set()
    for batch_rows, ((_, _, batch_masks), meta) in zip(plan, epochs.epoch(0, request).batches, strict=True):
        assert meta is None and batch_masks.shape == (6, SIZE, SIZE)
        for row, mask in zip(batch_rows, batch_masks.numpy()):
            face = rows[row]
            seen.add(face.path)
            if not face.label:
                assert not mask.any()  # a real face: no manipulated pixel
                continue
            sure = np.abs(truth[face.path] - 127.5) > 2  # pixels whose side of the threshold the codec cannot flip
            assert np.array_equal(mask[sure], truth[face.path][sure] > 127.5) and sure.mean() > 0.9
    assert set(truth) <= seen


def test_fake_without_mask_is_a_one_line_error_for_multi_task_only(tmp_path):
    root = tmp_path / "faces"
    ff_manifest(root, splits=lambda t: "val" if t >= 6 else "train")  # crops without masks
    config = RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=16),
        train=TrainConfig(method="alltrain", batch_size=6),
    ).override({"data.data_root": str(root), "data.benchmark": "gid-fs23"})
    assert run_inputs(config).train.masks is None  # every other method trains on these faces
    assert not any(cls.uses_masks for name, cls in METHODS.items() if name != "multi-task")
    out = tmp_path / "run"
    args = ["--quiet", "train", "gid-fs23", "--data-root", str(root), "--method", "multi-task"]
    result = CliRunner().invoke(main, [*args, "--backbone", "tiny", "--image-size", "16", "--out", str(out)])
    assert result.exit_code == 1
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "fake face without a manipulation mask" in message, message
    assert "--masks" in message and "multi-task" in message and not out.exists()  # refused before any work


def test_autoencoder_run_exports_its_classifier_path(tmp_path):
    """A forensic-transfer run dir loads through the method's own builder and exports encoder + score only."""
    config = RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=16), train=TrainConfig(method="forensic-transfer")
    )
    method = build_from_config(config)
    rng = np.random.default_rng(0)
    for kernel in [v for v in method.detector.weights if v.path.endswith("kernel")]:  # a score with a spread
        kernel.assign(rng.normal(0, 0.3, kernel.shape).astype(np.float32))
    run_dir = tmp_path / "run"
    save_config(config, run_dir / "config.json")
    tf.train.CheckpointManager(tf.train.Checkpoint(detector=method.detector), str(run_dir / "best"), 1).save()
    result = export_run(plan_export(run_dir, out=tmp_path / "bundle", quantize="fp32", verify=False))
    shapes = savedmodel_variables(tmp_path / "bundle" / "savedmodel")
    assert result["parameters"] == sum(int(np.prod(s)) for s in shapes.values()) == method.detector.count_params()
    assert method.decoder.count_params() > 0  # ... which the export leaves out

    crops = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    _, logits = method.detector(crops.astype(np.float32), training=False)
    expected = 1 / (1 + np.exp(-logits.numpy().reshape(-1).astype(np.float64)))  # P(fake) = a_1 / (a_0 + a_1)
    exported = savedmodel_predictor(tmp_path / "bundle" / "savedmodel")(crops)
    assert exported.shape == (8,) and np.ptp(expected) > 0.1  # crops the score tells apart
    # same graph and kernels: the float32 probability may differ from the float64 sigmoid by its rounding only
    assert np.abs(exported - expected).max() <= 2 * np.spacing(np.float32(1))


@pytest.mark.parametrize("table_id", ["2", "3", "4"])
def test_comparison_tables_have_the_autoencoder_rows_in_the_papers_order(table_id):
    benchmark = TABLES[table_id].benchmarks[0]
    targets = {t: {"frame": {"acc": 0.6, "logloss": 0.7, "auc": 0.65, "eer": 0.4}} for t in ("Deepfakes", "DFDC")}
    records = [RunRecord(m, benchmark, 0, "tiny", targets) for m in ("forensic-transfer", "multi-task", "ltw")]
    table = build_table(table_id, records)
    labels = [row.labels[0] for row in table.rows]
    assert labels.index("FocalLoss-Basemodel") + 1 == labels.index("ForensicTransfer")  # the paper's row order
    assert labels.index("ForensicTransfer") + 1 == labels.index("Multi-task") == labels.index("MLDG") - 1
    assert set(METHOD_LABELS) <= set(METHODS) | {"basemodel"}


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
