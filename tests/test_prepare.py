"""prepare.py and ``ltw-tf prepare``: crops + manifest, the skip log, resuming without work, parallel workers."""

from __future__ import annotations

import csv
import json
import sys
import types

import cv2
import pytest
from click.testing import CliRunner
from test_faces import face_video, plain_video

from cli.prepare import prepare_command
from ltw_tf.data import prepare as prepare_mod
from ltw_tf.data.faces import load_detector
from ltw_tf.data.manifest import Video, read_manifest
from ltw_tf.data.prepare import prepare

KW = {"frames": 4, "size": 64, "progress": False}


def _video(path, domain="real", vid="000", **kw) -> Video:
    label = int(domain != "real")
    fields = {
        "path": str(path),
        "label": label,
        "dataset": "synthff",
        "domain": domain,
        "quality": "c23",
        "split": "train",
        "video_id": vid,
        "target_id": vid.split("_")[0],
        "source_id": "",
    }
    return Video(**{**fields, **kw})


@pytest.fixture(scope="module")
def detector():
    return load_detector()


@pytest.fixture
def videos(tmp_path):
    """Two good face videos (a real, a fake), a 1-frame one, and three bad ones: corrupt, face-less, 0 bytes."""
    src = tmp_path / "videos"
    src.mkdir()
    corrupt = src / "corrupt.mp4"
    corrupt.write_bytes(bytes(range(256)) * 40)
    empty = src / "empty.mp4"
    empty.touch()
    return [
        _video(face_video(src / "000.mp4", n_frames=12, seed=1), vid="000"),
        _video(face_video(src / "000_001.mp4", n_frames=10, seed=50), "FaceSwap", "000_001", source_id="001"),
        _video(face_video(src / "002.mp4", n_frames=1, seed=9), vid="002"),
        _video(corrupt, vid="003"),
        _video(plain_video(src / "plain.mp4"), vid="004"),
        _video(empty, vid="005"),
    ]


def _skip_log(out) -> dict[str, str]:
    with open(out / "skipped.csv", newline="") as fh:
        return {row["video_id"]: row["reason"] for row in csv.DictReader(fh)}


def test_prepare_writes_crops_manifest_and_skip_log(tmp_path, videos, detector):
    out = tmp_path / "faces"
    report = prepare(videos, out, detector=detector, **KW)
    assert (report.videos, report.extracted, report.skipped, report.reused) == (6, 3, 3, 0)
    faces = read_manifest(out)
    assert report.faces == report.faces_written == len(faces) == 4 + 4 + 1 - report.frames_without_face
    assert {(f.video_id, f.frame) for f in faces} >= {("000", 0), ("000", 11), ("000_001", 9), ("002", 0)}
    fake = [f for f in faces if f.video_id == "000_001"]
    assert all(f.label == 1 and f.domain == "FaceSwap" and (f.target_id, f.source_id) == ("000", "001") for f in fake)
    assert "synthff/c23/real/000/0000.png" in {f.path for f in faces}
    for face in faces:
        crop = cv2.imread(str(out / face.path))
        assert crop.shape == (64, 64, 3) and 0.8 <= face.score <= 1.0
    skipped = _skip_log(out)
    assert set(skipped) == {"003", "004", "005"}
    assert "not a readable video" in skipped["003"]
    assert skipped["004"] == "no face in any of 4 sampled frames (no face detected x4)"
    assert "empty file" in skipped["005"]
    assert not list(out.rglob("*.tmp"))  # atomic writes leave nothing behind
    assert report.faces_per_second > 0 and report.to_dict()["faces_per_second"] > 0


def test_rerun_reuses_done_records_without_any_work(tmp_path, videos, detector, monkeypatch):
    out = tmp_path / "faces"
    first = prepare(videos, out, detector=detector, **KW)
    manifest, skip_log = (out / "manifest.csv").read_bytes(), (out / "skipped.csv").read_bytes()

    def no_work(*args, **kwargs):
        raise AssertionError("a finished video was processed again")

    monkeypatch.setattr(prepare_mod, "load_detector", no_work)  # no detector may be built ...
    monkeypatch.setattr(prepare_mod, "extract_faces", no_work)  # ... and no video decoded
    again = prepare(videos, out, workers=1, **KW)
    assert (again.reused, again.extracted, again.faces_written, again.skipped) == (6, 0, 0, 3)
    assert again.faces == first.faces and again.frames_without_face == first.frames_without_face
    assert (out / "manifest.csv").read_bytes() == manifest
    assert (out / "skipped.csv").read_bytes() == skip_log


def test_changed_settings_videos_or_lost_crops_redo_only_what_is_needed(tmp_path, videos, detector):
    out = tmp_path / "faces"
    prepare(videos[:2], out, detector=detector, **KW)
    (out / "synthff/c23/real/000/0000.png").unlink()
    report = prepare(videos[:2], out, detector=detector, **KW)
    assert (report.reused, report.extracted) == (1, 1)
    face_video(videos[1].path, n_frames=8, seed=77)  # the video was regenerated: its crops are stale
    report = prepare(videos[:2], out, detector=detector, **KW)
    assert (report.reused, report.extracted) == (1, 1)
    assert max(f.frame for f in read_manifest(out) if f.video_id == "000_001") == 7
    smaller = prepare(videos[:2], out, detector=detector, **{**KW, "size": 32, "frames": 2})
    assert (smaller.reused, smaller.extracted) == (0, 2)
    assert sorted(p.name for p in (out / "synthff/c23/real/000").glob("*.png")) == ["0000.png", "0011.png"]
    assert all(cv2.imread(str(out / f.path)).shape == (32, 32, 3) for f in read_manifest(out))


def test_unexpected_errors_are_logged_and_retried_next_run(tmp_path, videos, detector, monkeypatch):
    real_extract = prepare_mod.extract_faces

    def flaky(path, *args, **kwargs):
        if path.endswith("000.mp4") and "000_001" not in path:
            raise RuntimeError("decoder exploded\nsecond line")
        return real_extract(path, *args, **kwargs)

    monkeypatch.setattr(prepare_mod, "extract_faces", flaky)
    out = tmp_path / "faces"
    report = prepare(videos[:2], out, detector=detector, **KW)
    assert (report.extracted, report.skipped) == (1, 1)
    assert _skip_log(out) == {"000": "RuntimeError: decoder exploded"}
    monkeypatch.setattr(prepare_mod, "extract_faces", real_extract)
    again = prepare(videos[:2], out, detector=detector, **KW)
    assert (again.reused, again.extracted, again.skipped) == (1, 1, 0)


def test_relative_paths_resolve_under_root_and_duplicate_keys_are_refused(tmp_path, videos, detector):
    root = tmp_path / "videos"
    relative = _video("000.mp4", vid="000")
    report = prepare([relative], tmp_path / "faces", root=root, detector=detector, **KW)
    assert report.extracted == 1 and report.faces == 4
    with pytest.raises(ValueError, match="two videos map to"):
        prepare([relative, _video("other.mp4", vid="000")], tmp_path / "x", root=root, detector=detector, **KW)
    with pytest.raises(ValueError, match="margin"):
        prepare([relative], tmp_path / "y", root=root, margin=2.5, detector=detector, **KW)


def test_two_worker_processes_match_in_process_results(tmp_path, videos, detector, capfd, monkeypatch):
    one = prepare(videos, tmp_path / "one", detector=detector, **KW)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")  # the workers' TensorFlow prints its oneDNN start-up lines
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    capfd.readouterr()
    two = prepare(videos, tmp_path / "two", workers=2, **KW)
    err = capfd.readouterr().err  # the workers' fd 2 is the terminal's: nothing of TensorFlow's reached it
    assert "oneDNN" not in err and "absl" not in err, err  # (FFmpeg's word on the broken video passes through)
    assert (two.extracted, two.skipped, two.faces) == (one.extracted, one.skipped, one.faces)
    rows = lambda out: [(f.path, f.label, f.frame) for f in read_manifest(out)]
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
    assert _skip_log(tmp_path / "one") == _skip_log(tmp_path / "two")


def _fake_sources(monkeypatch, videos):
    """Stand in for ltw_tf.data.sources so the CLI test needs no dataset layout."""
    calls = []

    def list_videos(dataset, root, *, qualities=("c23",), splits_dir=None, methods=None):
        calls.append((dataset, qualities, splits_dir))
        return list(videos)

    module = types.ModuleType("ltw_tf.data.sources")
    module.list_videos = list_videos
    monkeypatch.setitem(sys.modules, "ltw_tf.data.sources", module)
    return calls


def test_cli_prepare_json_summary_and_errors(tmp_path, videos, monkeypatch):
    calls = _fake_sources(monkeypatch, videos[:2] + videos[3:4])
    runner = CliRunner()
    args = [
        str(tmp_path / "videos"),
        "--dataset",
        "synthff",
        "--out",
        str(tmp_path / "faces"),
        "--frames",
        "2",
        "--size",
        "32",
        "--margin",
        "0.3",
        "--qualities",
        "c23,c40",
        "--workers",
        "1",
    ]
    result = runner.invoke(prepare_command, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["videos"], report["extracted"], report["skipped"], report["faces"]) == (3, 2, 1, 4)
    assert calls == [("synthff", ("c23", "c40"), None)]
    text = runner.invoke(prepare_command, args)
    assert text.exit_code == 0 and "3 reused from an earlier run" in text.stdout and "4 faces" in text.stdout

    for bad in (["--margin", "1.5"], ["--margin", "abc"], ["--dataset", "nope"], ["--qualities", ","]):
        assert runner.invoke(prepare_command, [*args, *bad]).exit_code == 2, bad
    assert runner.invoke(prepare_command, ["/no/such/dir", "--dataset", "ffpp", "--out", "x"]).exit_code == 2
    _fake_sources(monkeypatch, [])
    empty = runner.invoke(prepare_command, args)
    assert empty.exit_code == 1 and "no synthff videos found" in empty.output and len(empty.output.splitlines()) == 1


def test_cli_help_has_examples():
    result = CliRunner().invoke(prepare_command, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--margin" in result.output


def test_other_datasets_in_the_same_folder_are_kept(tmp_path, videos, detector):
    """GCD needs FF++, Celeb-DF and DFDC in one manifest: a second prepare call adds rows, never drops them."""
    out = tmp_path / "faces"
    prepare([videos[0], videos[3]], out, detector=detector, **KW)  # synthff c23: a real + a corrupt one
    celeb = _video(
        videos[1].path,
        "Celeb-synthesis",
        "id1_0001",
        dataset="celebdf",
        quality="",
        split="test",
        target_id="id1",
        source_id="",
    )
    prepare([celeb, _video(videos[5].path, vid="009", dataset="celebdf", quality="")], out, detector=detector, **KW)
    faces = read_manifest(out)
    assert {f.dataset for f in faces} == {"synthff", "celebdf"}
    assert {(f.dataset, f.video_id) for f in faces} == {("synthff", "000"), ("celebdf", "id1_0001")}
    assert set(_skip_log(out)) == {"003", "009"}  # the first call's skip stays listed
    manifest = (out / "manifest.csv").read_bytes()
    prepare([videos[0], videos[3]], out, detector=detector, **KW)  # rerunning the first call changes nothing
    assert (out / "manifest.csv").read_bytes() == manifest
    (out / "synthff/c23/real/000/0000.png").unlink()  # rows of lost crops are dropped, and redone next time
    prepare([celeb], out, detector=detector, **KW)
    assert "synthff/c23/real/000/0000.png" not in {f.path for f in read_manifest(out)}
