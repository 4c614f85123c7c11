"""tf.data pipeline over a manifest: loaded images are the planned rows, pairs hold, same seed -> same batches."""

import numpy as np
import pytest

from ltw_tf.benchmarks import get_benchmark, source_faces, target_faces
from ltw_tf.data.pipeline import ManifestEpochs, eval_dataset
from ltw_tf.data.source import BatchRequest
from toy import FF_SIZE as SIZE
from toy import ff_manifest as _manifest


def _rows(images) -> np.ndarray:
    pixels = np.rint(images.numpy()[:, SIZE // 2, SIZE // 2, :2]).astype(int)
    return pixels[:, 0] + 256 * pixels[:, 1]


def test_meta_batches_load_the_paired_rows(tmp_path):
    faces = _manifest(tmp_path)
    bench = get_benchmark("gid-fs23")
    chosen = source_faces(bench, faces)
    source = ManifestEpochs(chosen, tmp_path, bench.sources, seed=4, batch_size=6, image_size=SIZE)
    data = source.epoch(0, BatchRequest(uses_meta_split=True, paired=True))
    meta_domains = data.info["meta_domains"]
    n = 0
    for (x, y), (xm, ym) in data.batches:
        assert x.shape == (6, SIZE, SIZE, 3) and x.dtype == "float32"
        rows, meta_rows = _rows(x), _rows(xm)
        for row, meta_row, label, meta_label in zip(rows, meta_rows, y.numpy(), ym.numpy()):
            face, partner = faces[row], faces[meta_row]
            assert face.label == label and partner.label == meta_label == 1 - label
            assert face.target_id == partner.target_id and face.frame == partner.frame
            if face.label == 0:
                assert partner.domain in meta_domains
            else:
                assert face.domain in data.info["train_domains"]
        n += 1
    assert n == data.length > 0
    assert not set(data.info["train_domains"]) & set(meta_domains)
    assert "FaceSwap" not in data.info["train_domains"] + meta_domains  # the held-out domain never trains


def test_same_seed_same_batches_and_plain_requests(tmp_path):
    faces = _manifest(tmp_path)
    bench = get_benchmark("gid-df23")
    chosen = source_faces(bench, faces)

    def epoch_rows(seed, epoch, request):
        source = ManifestEpochs(chosen, tmp_path, bench.sources, seed=seed, batch_size=4, image_size=SIZE)
        out = []
        for batch, meta in source.epoch(epoch, request).batches:
            out.append(_rows(batch[0]).tolist() + ([] if meta is None else _rows(meta[0]).tolist()))
        return out

    paired = BatchRequest(True, True)
    assert epoch_rows(1, 2, paired) == epoch_rows(1, 2, paired)
    assert epoch_rows(1, 2, paired) != epoch_rows(2, 2, paired)
    plain = epoch_rows(1, 0, BatchRequest())
    assert all(len(b) == 4 for b in plain)
    assert {faces[r].domain for b in plain for r in b} == {"real", *bench.sources}


def test_eval_sets_and_benchmark_errors(tmp_path):
    faces = _manifest(tmp_path, n_targets=2, split="test")
    targets = target_faces(get_benchmark("gid-nt23"), faces)
    assert list(targets) == ["NeuralTextures"]
    assert {f.domain for f in targets["NeuralTextures"]} == {"real", "NeuralTextures"}
    batches = list(eval_dataset(targets["NeuralTextures"], tmp_path, SIZE, batch_size=3))
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert labels.tolist() == [f.label for f in targets["NeuralTextures"]]
    with pytest.raises(ValueError, match="source domain 'real' .*train.* is empty"):
        source_faces(get_benchmark("gid-nt23"), faces, split="train")
    with pytest.raises(ValueError, match="unknown benchmark 'gid-xx23'; valid: gid-df23"):
        get_benchmark("gid-xx23")
    with pytest.raises(ValueError, match="target Celeb-DF .*empty"):
        target_faces(get_benchmark("gcd"), faces)
