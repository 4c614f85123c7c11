"""synthff: FF++ layout and splits, determinism, decodable videos, where each family edits, MTCNN finds the faces."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.synth import synth
from ltw_tf.data.synth.codec import read_video
from ltw_tf.data.synth.videos import fake_path, pair_frames, real_path
from ltw_tf.data.synthetic import FAMILIES, NOTE, PRESETS, SynthPreset, generate, make_pairs, split_pairs

SMALL = PRESETS["small"]
TINY = SynthPreset("tiny", identities=6, frames=3, size=96)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthff")
    summary = generate(out, preset="small", seed=0, progress=False)
    return out, summary


def _ids(n):
    return [f"{i:03d}" for i in range(n)]


def test_layout_counts_and_metadata(small):
    out, summary = small
    for q in ("c23", "c40"):
        reals = sorted(p.stem for p in (out / "original_sequences/youtube" / q / "videos").glob("*.mp4"))
        assert reals == _ids(SMALL.identities)
        for fam in FAMILIES:
            fakes = list((out / "manipulated_sequences" / fam / q / "videos").glob("*.mp4"))
            assert len(fakes) == SMALL.identities
    assert not list(out.rglob("*.part*")), "temporary files left behind"
    meta = json.loads((out / "synthff.json").read_text())
    assert meta["complete"] and meta["note"] == NOTE and "not FF++" in NOTE
    assert meta["config"]["seed"] == 0 and meta["config"]["preset"]["identities"] == SMALL.identities
    assert meta["config"]["version"] and meta["codec"]["name"] in ("h264", "mp4v+jpeg")
    assert summary["videos"] == {"real": 16, **{fam: 16 for fam in FAMILIES}} and summary["pairs"] == 4
    boxes = json.loads((out / "synthff_boxes.json").read_text())
    assert sorted(boxes) == _ids(SMALL.identities) and len(boxes["000"]) == SMALL.frames


def test_splits_are_official_format_and_disjoint(small):
    out, _ = small
    splits = {s: json.loads((out / "splits" / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    ids = {}
    for name, pairs in splits.items():
        assert pairs and all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in pairs)
        ids[name] = {v for p in pairs for v in p}
        for a, b in pairs:  # a pair puts reals a, b and fakes a_b, b_a of every method in the split
            for fam in FAMILIES:
                assert fake_path(out, fam, "c23", a, b).is_file() and fake_path(out, fam, "c40", b, a).is_file()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert set().union(*ids.values()) == set(_ids(SMALL.identities))


def test_split_proportions_follow_ffpp():
    sizes = {k: len(v) for k, v in split_pairs(make_pairs(0, 1000)).items()}
    assert sizes == {"train": 360, "val": 70, "test": 70}
    with pytest.raises(ValueError, match="at least 3 pairs"):
        split_pairs([(0, 1), (2, 3)])


def test_videos_decode_with_the_right_frame_count(small):
    out, _ = small
    import cv2

    paths = [real_path(out, q, "000") for q in ("c23", "c40")]
    paths += [p for fam in FAMILIES for p in (out / "manipulated_sequences" / fam / "c40" / "videos").glob("*.mp4")]
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == SMALL.frames, path
        cap.release()
        frames = read_video(path)
        assert len(frames) == SMALL.frames and frames[0].shape == (SMALL.size, SMALL.size, 3), path


def test_videos_hold_the_rendered_frames_c40_coarser_than_c23(small):
    out, _ = small
    a, b = make_pairs(0, SMALL.identities)[0]
    rendered = pair_frames(0, SMALL, a, b).videos[("NeuralTextures", f"{a:03d}", f"{b:03d}")]
    err = {
        q: np.mean(
            [
                np.abs(x.astype(int) - y).mean()
                for x, y in zip(read_video(fake_path(out, "NeuralTextures", q, f"{a:03d}", f"{b:03d}")), rendered)
            ]
        )
        for q in ("c23", "c40")
    }
    assert err["c23"] < 4 < err["c40"] < 20, err


def test_codec_substitute_without_h264(tmp_path, monkeypatch):
    from ltw_tf.data.synth import codec

    monkeypatch.setattr(codec, "h264_available", lambda: False)
    assert codec.codec_info()["name"] == "mp4v+jpeg"
    frames = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(5)]
    codec.write_video(tmp_path / "x.mp4", frames, "c40")
    decoded = read_video(tmp_path / "x.mp4")
    assert len(decoded) == 5 and abs(int(decoded[3].mean()) - 120) < 8


def _zone(points, pad, shape):
    lo, hi = points.min(0), points.max(0)
    margin = (hi - lo) * pad
    zone = np.zeros(shape, bool)
    (x0, y0), (x1, y1) = np.floor(lo - margin).astype(int).clip(0), np.ceil(hi + margin).astype(int)
    zone[y0 : y1 + 1, x0 : x1 + 1] = True
    return zone


def test_each_family_edits_only_its_regions():
    a, b = make_pairs(0, SMALL.identities)[0]
    t, s = f"{a:03d}", f"{b:03d}"
    rendered = pair_frames(0, SMALL, a, b)
    real, marks = np.array(rendered.videos[("real", t, t)]).astype(int), rendered.landmarks[t]
    shape = real.shape[1:3]
    face = np.array([_zone(m, 0.25, shape) for m in marks])
    far = ~np.array([_zone(m, 0.6, shape) for m in marks])
    eyes = np.array([_zone(m[17:27], 0.35, shape) | _zone(m[36:48], 0.35, shape) for m in marks])  # brows, eyes
    mouth = np.array([_zone(m[48:68], 0.45, shape) for m in marks])
    share = {}
    for fam in FAMILIES:
        diff = np.abs(np.array(rendered.videos[(fam, t, s)]).astype(int) - real).max(-1)
        assert diff.sum() > 0 and diff[far].max() == 0, fam  # background, hair, body: untouched
        share[fam] = {
            k: diff[z].sum() / diff.sum()
            for k, z in (("face", face), ("eyes", eyes), ("mouth", mouth), ("eyes+mouth", eyes | mouth))
        }
        assert share[fam]["face"] > 0.99, (fam, share[fam])
    assert share["NeuralTextures"]["mouth"] > 0.75 and share["NeuralTextures"]["eyes"] < 0.01, share
    f2f = share["Face2Face"]
    assert f2f["eyes+mouth"] > 0.85 and f2f["eyes"] > 0.2 and f2f["mouth"] > 0.1, f2f
    for fam in ("Deepfakes", "FaceSwap"):  # whole-face swaps: the edit spreads over the face
        assert share[fam]["eyes+mouth"] < 0.75, (fam, share[fam])


def test_same_seed_same_frames_other_seed_other_frames(tmp_path):
    builds = {name: tmp_path / name for name in ("a", "b", "c")}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        generate(builds[name], preset=TINY, seed=seed, qualities=("c23",), progress=False)
    fake = sorted((builds["a"] / "manipulated_sequences/FaceSwap/c23/videos").glob("*.mp4"))[0]
    for rel in (Path("original_sequences/youtube/c23/videos/000.mp4"), fake.relative_to(builds["a"])):
        frames = {k: np.array(read_video(v / rel)) for k, v in builds.items() if (v / rel).exists()}
        assert len(frames["a"]) == TINY.frames and np.array_equal(frames["a"], frames["b"]), rel
        if "c" in frames:
            assert not np.array_equal(frames["a"], frames["c"]), rel
    assert (builds["a"] / "splits/test.json").read_text() == (builds["b"] / "splits/test.json").read_text()


def test_mtcnn_finds_the_faces(small):
    """MTCNN (the prepare step's detector) finds a face in >= 95% of sampled real and fake frames."""
    from mtcnn import MTCNN

    out, _ = small
    detector = MTCNN()
    paths = [real_path(out, q, f"{i:03d}") for q in ("c23", "c40") for i in range(SMALL.identities)]
    paths += [
        p
        for fam in FAMILIES
        for q in ("c23", "c40")
        for p in sorted((out / "manipulated_sequences" / fam / q / "videos").glob("*.mp4"))[:1]
    ]
    found = total = 0
    for k, path in enumerate(paths):
        frames = read_video(path)
        for frame in (frames[k % len(frames)], frames[(k + len(frames) // 2) % len(frames)]):
            total += 1
            found += bool(detector.detect_faces(np.ascontiguousarray(frame)))
    rate = found / total
    print(f"MTCNN detection rate on synthff (small preset): {found}/{total} = {rate:.1%}")
    assert rate >= 0.95


def test_out_dir_rules(tmp_path, small):
    out, _ = small
    again = generate(out, preset="small", seed=0, progress=False)  # same config: resumed, nothing re-rendered
    assert again["rendered_pairs"] == 0 and again["kept_pairs"] == 4
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(foreign, preset=TINY, progress=False)
    generate(foreign, preset=TINY, qualities=("c40",), progress=False, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "user data" and (foreign / "synthff.json").is_file()
    replaced = generate(foreign, preset=TINY, seed=5, qualities=("c23",), progress=False)  # another build: replaced
    assert replaced["rendered_pairs"] == 3 and not (foreign / "original_sequences/youtube/c40").exists()
    with pytest.raises(ValueError, match="preset"):
        generate(tmp_path / "x", preset="huge")


def test_cli_synth(tmp_path, small):
    out, _ = small
    runner = CliRunner()
    result = runner.invoke(synth, [str(out), "--preset", "small", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["kept_pairs"] == 4 and summary["note"] == NOTE
    text = runner.invoke(synth, [str(out), "--preset", "small", "--quiet"])
    assert text.exit_code == 0 and "not FF++ numbers" in text.output
    assert runner.invoke(synth, ["--help"]).exit_code == 0 and "Examples" in runner.invoke(synth, ["--help"]).output
    bad = runner.invoke(synth, [str(tmp_path / "y"), "--qualities", "c99"])
    assert bad.exit_code == 2
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    Path(foreign / "x.txt").write_text("x")
    refused = runner.invoke(synth, [str(foreign), "--preset", "small"])
    assert refused.exit_code == 1 and "not empty" in refused.output and len(refused.output.strip().splitlines()) == 1


def test_study_preset_has_ffpp_sized_test_splits():
    """The study preset's held-out test split: >= 100 real and >= 100 fake videos per family (issue 15)."""
    preset = PRESETS["study"]
    splits = split_pairs(make_pairs(0, preset.identities))
    sizes = {name: len(pairs) for name, pairs in splits.items()}
    assert sizes == {"train": 360, "val": 70, "test": 70}  # FF++'s official 720 / 140 / 140 videos
    test_ids = {i for pair in splits["test"] for i in pair}
    assert len(test_ids) == 140  # reals; each pair also gives 2 fakes per family (a_b and b_a)
    used = [i for pairs in splits.values() for pair in pairs for i in pair]
    assert sorted(used) == list(range(preset.identities))  # every identity in exactly one split
