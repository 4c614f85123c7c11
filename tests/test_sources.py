"""Dataset readers on tiny fake trees: FF++ splits (official, validated, seeded), Celeb-DF, DFDC, DeepfakeBench."""

import json
import logging
import random
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ltw_tf.data.sources import DATASETS, FFPP_METHODS, import_deepfakebench, list_videos
from ltw_tf.data.sources.ffpp import read_split_files, resolve_methods, seeded_split, split_assignment


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # readers only list files, never decode them


def make_ffpp(root: Path, pairs, methods=FFPP_METHODS, qualities=("c23",)) -> Path:
    """Reals a, b and fakes a_b, b_a of each method for every pair."""
    for q in qualities:
        folders = {"real": root / "original_sequences/youtube" / q / "videos"}
        folders.update({m: root / "manipulated_sequences" / m / q / "videos" for m in methods})
        for domain, folder in folders.items():
            folder.mkdir(parents=True, exist_ok=True)
            for a, b in pairs:
                for name in (a, b) if domain == "real" else (f"{a}_{b}", f"{b}_{a}"):
                    touch(folder / f"{name}.mp4")
    return root


def write_splits(folder: Path, splits: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in splits.items():
        (folder / f"{name}.json").write_text(json.dumps(entries))
    return folder


def official_pairs():
    """The official split's shape: 1000 ids in 500 pairs, 360 / 70 / 70 pairs."""
    ids = [f"{i:03d}" for i in range(1000)]
    random.Random(0).shuffle(ids)
    pairs = [ids[i : i + 2] for i in range(0, 1000, 2)]
    return {"train": pairs[:360], "val": pairs[360:430], "test": pairs[430:]}


def pick(record, names: str) -> tuple:
    return tuple(getattr(record, name) for name in names.split())


SMALL = {"train": [["000", "001"], ["002", "003"]], "val": [["004", "005"]], "test": [["006", "007"]]}


def test_official_split_full_size(tmp_path):
    splits = write_splits(tmp_path / "splits", official_pairs())
    assign = split_assignment(read_split_files(splits))
    count = lambda fake: Counter(split for vid, split in assign.items() if ("_" in vid) == fake)
    assert count(False) == count(True) == {"train": 720, "val": 140, "test": 140}
    root = make_ffpp(tmp_path / "ff", [p for ps in official_pairs().values() for p in ps], methods=["Deepfakes"])
    videos = list_videos("ffpp", root, splits_dir=splits, methods=["DF"])
    counts = Counter((v.domain, v.split) for v in videos)
    for domain in ("real", "Deepfakes"):
        assert [counts[domain, s] for s in ("train", "val", "test")] == [720, 140, 140]


def test_pair_puts_reals_and_both_fakes_in_its_split(tmp_path):
    root = make_ffpp(tmp_path / "ff", [p for ps in SMALL.values() for p in ps], qualities=("c23", "c40"))
    videos = list_videos("ffpp", root, qualities=("c23", "c40"), splits_dir=write_splits(tmp_path / "s", SMALL))
    assert len(videos) == 2 * (8 + 8 * 4)
    by_id = {(v.quality, v.domain, v.video_id): v for v in videos}
    assert {by_id["c40", "real", vid].split for vid in ("004", "005")} == {"val"}
    assert pick(by_id["c23", "FaceSwap", "005_004"], "split label target_id source_id dataset") == (
        "val",
        1,
        "005",
        "004",
        "ffpp",
    )
    assert pick(by_id["c23", "real", "006"], "split label target_id source_id") == ("test", 0, "006", "")
    assert all(Path(v.path).is_absolute() and Path(v.path).is_file() for v in videos)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"a": 1}, "train.json: expected a JSON list"),
        ([["000", "001"], ["002"]], 'train.json: entry 1 is ["002"]'),
        ([["000", 1]], 'entry 0 is ["000", 1]'),
        ([["000", "000"]], "entry 0"),
    ],
)
def test_split_file_validation(tmp_path, content, message):
    folder = write_splits(tmp_path, {**SMALL, "train": content})
    with pytest.raises(ValueError, match=re.escape(message)):
        read_split_files(folder)


def test_split_file_errors(tmp_path):
    folder = write_splits(tmp_path / "a", {**SMALL, "test": [["001", "009"]]})
    with pytest.raises(ValueError, match="'001' is in two splits: train and test"):
        read_split_files(folder)
    folder = write_splits(tmp_path / "b", {"train": [], "val": []})
    with pytest.raises(FileNotFoundError, match="test.json"):
        read_split_files(folder)
    (folder / "test.json").write_text("[[")
    with pytest.raises(ValueError, match="test.json: not valid JSON"):
        read_split_files(folder)


def test_videos_in_no_split_are_dropped_and_counted(tmp_path, caplog):
    root = make_ffpp(tmp_path / "ff", [("000", "001"), ("002", "003"), ("008", "009")])
    with caplog.at_level(logging.WARNING, logger="ltw_tf.data.sources.ffpp"):
        videos = list_videos("ffpp", root, splits_dir=write_splits(tmp_path / "s", SMALL))
    assert {v.video_id for v in videos if v.label == 0} == {"000", "001", "002", "003"}
    assert "dropped 10 video(s)" in caplog.text


def test_seeded_split_proportions_pairs_determinism():
    ids = [f"{i:03d}" for i in range(1000)]
    pairs = [(ids[i], ids[i + 1]) for i in range(0, 1000, 2)]
    fakes = pairs + [(b, a) for a, b in pairs]
    assign = seeded_split(ids, fakes, seed=0)
    assert assign == seeded_split(list(reversed(ids)), fakes[::-1], seed=0)
    assert assign != seeded_split(ids, fakes, seed=1)
    assert Counter(assign[i] for i in ids) == {"train": 720, "val": 140, "test": 140}
    for a, b in pairs:  # a pair's reals and fakes never straddle splits
        assert assign[a] == assign[b] == assign[f"{a}_{b}"] == assign[f"{b}_{a}"]
    odd = seeded_split([f"{i:02d}" for i in range(25)])  # no pairs: ids alone, still 72/14/14
    assert Counter(odd.values()) == {"train": 18, "val": 4, "test": 3}


def test_fallback_split_warns_and_is_consistent(tmp_path):
    root = make_ffpp(tmp_path / "ff", [(f"{i:03d}", f"{i + 1:03d}") for i in range(0, 50, 2)], qualities=("c23", "c40"))
    with pytest.warns(UserWarning, match="not comparable with the paper"):
        videos = list_videos("ffpp", root, qualities=("c23", "c40"))
    with pytest.warns(UserWarning):
        again = list_videos("ffpp", root, qualities=("c23", "c40"))
    assert videos == again
    split_of = {}
    for v in videos:  # one split per id across qualities and methods; fakes follow their pair
        assert split_of.setdefault(v.target_id, v.split) == v.split
        if v.label:
            assert split_of.setdefault(v.source_id, v.split) == v.split
    reals = Counter(v.split for v in videos if v.label == 0 and v.quality == "c23")
    assert reals["train"] == 36 and abs(reals["val"] - 7) <= 1 and abs(reals["test"] - 7) <= 1  # pairs stay whole
    assert len(videos) == 2 * 50 * 5  # no video lost


def test_default_splits_folder_and_synthff(tmp_path):
    root = make_ffpp(tmp_path / "syn", [p for ps in SMALL.values() for p in ps])
    write_splits(root / "splits", SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        videos = list_videos("synthff", root, methods=["NT", "Deepfakes"])
    assert {v.dataset for v in videos} == {"synthff"}
    assert {v.domain for v in videos} == {"real", "Deepfakes", "NeuralTextures"}
    assert Counter(v.split for v in videos if v.label == 0) == {"train": 4, "val": 2, "test": 2}


def test_missing_folder_names_exact_path(tmp_path):
    root = make_ffpp(tmp_path / "ff", [("000", "001")], methods=["Deepfakes", "Face2Face", "NeuralTextures"])
    splits = write_splits(tmp_path / "s", {"train": [["000", "001"]], "val": [], "test": []})
    expected = str(root / "manipulated_sequences" / "FaceSwap" / "c23" / "videos")
    with pytest.raises(FileNotFoundError, match=re.escape(f"expected folder {expected} not found")):
        list_videos("ffpp", root, splits_dir=splits)
    assert len(list_videos("ffpp", root, splits_dir=splits, methods=["DF", "F2F", "NT"])) == 2 + 6
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "original_sequences/youtube/c40/videos"))):
        list_videos("ffpp", root, qualities=("c40",), splits_dir=splits, methods=["DF"])


def test_empty_quality_bad_method_unknown_dataset(tmp_path):
    root = make_ffpp(tmp_path / "ff", [], methods=["Deepfakes"], qualities=("c40",))
    with pytest.raises(ValueError, match=re.escape(f"no videos found under {root} (quality 'c40')")):
        list_videos("ffpp", root, qualities=("c40",), methods=["DF"])
    with pytest.raises(ValueError, match=r"unknown FF\+\+ method 'Deepfake'"):
        resolve_methods(["Deepfake"])
    assert resolve_methods(["F2F", "Face2Face", "FS"]) == ("Face2Face", "FaceSwap")
    with pytest.raises(ValueError, match="unknown dataset 'ff'; valid: ffpp, synthff, celebdf, dfdc"):
        list_videos("ff", tmp_path)
    assert set(DATASETS) == {"ffpp", "synthff", "celebdf", "dfdc"}


def make_celebdf(root: Path, test_lines) -> Path:
    for rel in (
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0001.mp4",
        "YouTube-real/00170.mp4",
        "YouTube-real/00171.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0001.mp4",
    ):
        touch(root / rel)
    (root / "List_of_testing_videos.txt").write_text("\n".join(test_lines) + "\n")
    return root


def test_celebdf_label_inversion_and_targets(tmp_path):
    lines = ["1 YouTube-real/00170.mp4", "0 Celeb-synthesis/id0_id1_0000.mp4", "1 Celeb-real/id1_0001.mp4"]
    root = make_celebdf(tmp_path, lines)
    videos = {v.video_id: v for v in list_videos("celebdf", root)}
    assert len(videos) == 6
    # the list says 1 for the real YouTube video and 0 for the fake: our labels are the reverse
    assert pick(videos["00170"], "label split") == pick(videos["id1_0001"], "label split") == (0, "test")
    assert pick(videos["id0_id1_0000"], "label split domain target_id source_id") == (
        1,
        "test",
        "Celeb-synthesis",
        "id0_0000",
        "id1",
    )
    assert {vid for vid, v in videos.items() if v.split == "train"} == {"id0_0000", "00171", "id1_id0_0001"}
    assert {(v.dataset, v.quality) for v in videos.values()} == {("celebdf", "")}
    assert pick(videos["id1_id0_0001"], "target_id source_id") == ("id1_0001", "id0")


def test_celebdf_errors(tmp_path):
    root = make_celebdf(tmp_path / "a", ["0 YouTube-real/00170.mp4"])  # flag inverted: 0 means fake there
    with pytest.raises(ValueError, match="00170.mp4 is flagged 0 .*1 = real, 0 = fake"):
        list_videos("celebdf", root)
    root = make_celebdf(tmp_path / "b", ["1 YouTube-real/99999.mp4"])
    with pytest.raises(FileNotFoundError, match="99999.mp4 not found"):
        list_videos("celebdf", root)
    root = make_celebdf(tmp_path / "c", ["real YouTube-real/00170.mp4"])
    with pytest.raises(ValueError, match="List_of_testing_videos.txt:1: expected"):
        list_videos("celebdf", root)
    (root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(FileNotFoundError, match="List_of_testing_videos.txt not found"):
        list_videos("celebdf", root)


def make_dfdc(root: Path, parts: dict) -> Path:
    for n, entries in parts.items():
        part = root / f"dfdc_train_part_{n}"
        meta = {}
        for name, original in entries.items():
            meta[name] = {"label": "REAL" if original is None else "FAKE", "split": "train", "original": original}
            touch(part / name)
        (part / "metadata.json").write_text(json.dumps(meta))
    return root


def test_dfdc_last_reals_rule(tmp_path):
    # numeric part order: 2 before 10 (a string sort would put 10 first)
    part10 = {"zz.mp4": None, "aa.mp4": None, "fa.mp4": "aa.mp4", "fz.mp4": "zz.mp4", "fb.mp4": "bb.mp4"}
    root = make_dfdc(tmp_path, {10: part10, 2: {"bb.mp4": None, "cc.mp4": None, "fc.mp4": "cc.mp4"}})
    videos = {v.video_id: v for v in list_videos("dfdc", root, test_reals=3)}
    assert {vid for vid, v in videos.items() if v.split == "test"} == {"cc", "aa", "zz", "fc", "fa", "fz"}
    assert videos["bb"].split == videos["fb"].split == "train"
    assert pick(videos["fa"], "label domain target_id source_id dataset quality") == (1, "DFDC", "aa", "", "dfdc", "")
    assert pick(videos["bb"], "label domain target_id") == (0, "real", "bb")
    small = list_videos("dfdc", root, test_reals=1)
    assert {v.video_id for v in small if v.split == "test"} == {"zz", "fz"}


def test_dfdc_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dfdc_train_part_<N>"):
        list_videos("dfdc", tmp_path)
    (tmp_path / "dfdc_train_part_0").mkdir()
    with pytest.raises(FileNotFoundError, match="dfdc_train_part_0/metadata.json not found"):
        list_videos("dfdc", tmp_path)
    (tmp_path / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "MAYBE"}}))
    with pytest.raises(ValueError, match="entry 'a.mp4' has no label REAL or FAKE"):
        list_videos("dfdc", tmp_path)


def test_deepfakebench_with_quality_level(tmp_path):
    p30 = "ff/000/030.png"
    real = {"0": {"label": "FF-real", "frames": ["ff/000/000.png", p30]}}
    fake = {"000_003": {"label": "FF-DF", "frames": ["/abs/df/000_003/frame_0012.png"]}}
    data = {"FF++": {"FF-real": {"train": {"c23": real}, "test": {"c23": {}}}, "FF-DF": {"val": {"c40": fake}}}}
    path = tmp_path / "ff.json"
    path.write_text(json.dumps(data))
    faces = import_deepfakebench(path, root=tmp_path)
    real = [f for f in faces if f.label == 0]
    assert [(f.frame, f.path) for f in real] == [(0, str(tmp_path / "ff/000/000.png")), (30, str(tmp_path / p30))]
    assert {pick(f, "dataset domain quality split target_id") for f in real} == {("ffpp", "real", "c23", "train", "0")}
    (fake,) = [f for f in faces if f.label == 1]
    assert pick(fake, "domain quality split video_id target_id source_id frame path") == (
        "Deepfakes",
        "c40",
        "val",
        "000_003",
        "000",
        "003",
        12,
        "/abs/df/000_003/frame_0012.png",
    )
    assert import_deepfakebench(path)[0].path == "ff/000/000.png"  # no root: as written


def test_deepfakebench_without_quality_level(tmp_path):
    celeb_test = {"label": "CelebDFv2_fake", "frames": ["c/id0_id1_0000/a.png", "c/id0_id1_0000/b.png"]}
    data = {
        "Celeb-DF-v2": {
            "CelebDFv2_real": {"test": {"00170": {"label": "CelebDFv2_real", "frames": ["y/00170/000.png"]}}},
            # DeepfakeBench copies test videos into train and val too: the test copy is kept
            "CelebDFv2_fake": {split: {"id0_id1_0000": celeb_test} for split in ("train", "val", "test")},
        },
        "DFDC": {
            "DFDC_Fake": {
                "train": {"abc": {"label": "DFDC_Fake", "frames": ["d/abc/007.png"]}},
                "val": {"label": "DFDC_Fake", "frames": ["d/x/001.png"]},
            }
        },  # its bare-entry quirk
        "UADFV": {"UADFV_Fake": {"test": {"u1": {"label": "UADFV_Fake", "frames": ["u/1.png"], "masks": []}}}},
    }
    path = tmp_path / "cdf.json"
    path.write_text(json.dumps(data))
    faces = import_deepfakebench(path)
    rows = {(f.video_id, f.frame): f for f in faces}
    assert len(faces) == 5
    fake = rows["id0_id1_0000", 1]  # names without digits: frame = position
    assert pick(fake, "split quality dataset domain target_id source_id") == (
        "test",
        "",
        "celebdf",
        "Celeb-synthesis",
        "id0_0000",
        "id1",
    )
    assert pick(rows["00170", 0], "label domain") == (0, "real")
    assert pick(rows["abc", 7], "dataset domain split") == ("dfdc", "DFDC", "train")
    assert pick(rows["u1", 1], "dataset label domain") == ("uadfv", 1, "UADFV_Fake")


def test_deepfakebench_errors(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"X": {"FF-XYZ": {"train": {}}}}))
    with pytest.raises(ValueError, match="unknown DeepfakeBench label key 'FF-XYZ'"):
        import_deepfakebench(path)
    path.write_text(json.dumps({"X": {"FF-DF": {"dev": {}}}}))
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        import_deepfakebench(path)


def test_deepfakebench_keeps_ten_evenly_spaced_frames_per_video_by_default(tmp_path):
    # DeepfakeBench lists 32 frames per video (shuffled here); the paper uses 10 evenly spaced ones (np.linspace).
    names = [f"ff/000/{i * 9:03d}.png" for i in range(32)]
    order = np.random.default_rng(0).permutation(32)
    video = {"0": {"label": "FF-real", "frames": [names[i] for i in order]}}
    path = tmp_path / "ff.json"
    path.write_text(json.dumps({"FF++": {"FF-real": {"train": {"c23": video}}}}))
    kept = [f.frame for f in import_deepfakebench(path)]
    assert kept == [9 * i for i in (0, 3, 7, 10, 14, 17, 21, 24, 28, 31)]  # round(linspace(0, 31, 10))
    assert [f.frame for f in import_deepfakebench(path, frames_per_video=None)] == [9 * i for i in range(32)]
    assert len(import_deepfakebench(path, frames_per_video=40)) == 32  # fewer frames than asked: all of them
    with pytest.raises(ValueError, match="frames_per_video must be at least 1"):
        import_deepfakebench(path, frames_per_video=0)
