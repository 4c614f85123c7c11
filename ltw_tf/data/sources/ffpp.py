"""FaceForensics++ (and ``synthff``, same layout): list videos and assign the official train/val/test split.

Layout: ``original_sequences/youtube/{q}/videos/NNN.mp4`` (real) and
``manipulated_sequences/{Method}/{q}/videos/T_S.mp4`` (fake: target T, source S). Split files ``train.json``,
``val.json``, ``test.json`` list id pairs; a pair [a, b] puts reals a, b and fakes a_b, b_a in that split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ltw_tf.data.manifest import Video
from ltw_tf.data.sources.common import SPLITS, dataset_root, no_videos, parse_pair, require_dir, video_files

log = logging.getLogger(__name__)

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
METHOD_ALIASES = {"DF": "Deepfakes", "F2F": "Face2Face", "FS": "FaceSwap", "NT": "NeuralTextures"}
EXTRA_METHODS = ("FaceShifter",)  # in later FF++ releases; read only when named
SPLIT_FRACTIONS = (0.72, 0.14, 0.14)  # 720 / 140 / 140 of 1000 ids, as the official split

Pair = tuple[str, str]


def resolve_methods(methods: Sequence[str] | None) -> tuple[str, ...]:
    """Method names from full names or aliases (DF/F2F/FS/NT); None = the four FF++ methods."""
    if methods is None:
        return FFPP_METHODS
    if isinstance(methods, str):
        methods = [methods]
    valid = FFPP_METHODS + EXTRA_METHODS
    out = []
    for name in methods:
        full = METHOD_ALIASES.get(name, name)
        if full not in valid:
            raise ValueError(f"unknown FF++ method {name!r}; valid: {', '.join(valid + tuple(METHOD_ALIASES))}")
        if full not in out:
            out.append(full)
    return tuple(out)


def read_split_files(splits_dir: str | os.PathLike) -> dict[str, list[Pair]]:
    """The official split files, strictly validated: {split: [(a, b), ...]} for train / val / test."""
    folder = Path(splits_dir)
    pairs: dict[str, list[Pair]] = {}
    for split in SPLITS:
        path = folder / f"{split}.json"
        if not path.is_file():
            raise FileNotFoundError(f"split file {path} not found (expected train.json, val.json, test.json)")
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a JSON list of [id, id] pairs, got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(x, str) and x for x in entry)
                and entry[0] != entry[1]
            ):
                raise ValueError(
                    f"{path}: entry {i} is {json.dumps(entry)}; expected a pair of two different "
                    'id strings like ["071", "054"]'
                )
        pairs[split] = [(a, b) for a, b in entries]
    try:
        split_assignment(pairs)
    except ValueError as err:
        raise ValueError(f"{folder}: {err}") from None
    return pairs


def split_assignment(pairs: Mapping[str, Iterable[Pair]]) -> dict[str, str]:
    """Video id -> split: a pair [a, b] assigns reals a and b and fakes a_b and b_a; a video in two splits errs."""
    assign: dict[str, str] = {}
    for split, split_pairs in pairs.items():
        for a, b in split_pairs:
            for vid in (a, b, f"{a}_{b}", f"{b}_{a}"):
                other = assign.setdefault(vid, split)
                if other != split:
                    raise ValueError(f"video {vid!r} is in two splits: {other} and {split}")
    return assign


def _hash_key(seed: int, group: tuple[str, ...]) -> str:
    return hashlib.sha256(f"{seed}/{'/'.join(group)}".encode()).hexdigest()


def seeded_split(
    ids: Iterable[str], fake_pairs: Iterable[Pair] = (), *, seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS
) -> dict[str, str]:
    """A deterministic stand-in for the official split: video id -> split, 72/14/14 % of the ids.

    Ids are grouped in pairs as the fakes pair them (``T_S``: greedy over the sorted pairs, each id in at most one
    pair), so a pair's reals and both its fakes land in the same split; unpaired ids go alone. Groups are ordered by
    sha256(seed, ids) -- the same on every platform and Python version -- and fill train, then val, then test up
    to round(72 %) / round(14 %) / the rest of the ids. A fake T_S is assigned when T and S share a split.
    """
    ids = sorted(set(ids))
    known = set(ids)
    used: set[str] = set()
    groups: list[tuple[str, ...]] = []
    for a, b in sorted({tuple(sorted(p)) for p in fake_pairs}):
        if a != b and a in known and b in known and a not in used and b not in used:
            groups.append((a, b))
            used.update((a, b))
    groups += [(i,) for i in ids if i not in used]
    groups.sort(key=lambda g: _hash_key(seed, g))

    n_train = round(fractions[0] * len(ids))
    n_val = round(fractions[1] * len(ids))
    need = {"train": n_train, "val": n_val, "test": len(ids) - n_train - n_val}
    assign: dict[str, str] = {}
    for group in groups:
        split = next((s for s in SPLITS if need[s] >= len(group)), None)
        split = split or max(SPLITS, key=lambda s: need[s])
        need[split] -= len(group)
        assign.update((i, split) for i in group)
    for t, s in fake_pairs:
        if t in assign and assign.get(s) == assign[t]:
            assign[f"{t}_{s}"] = assign[t]
    return assign


def _list(root: Path, qualities: Sequence[str], methods: Sequence[str], dataset: str) -> list[tuple[Path, str, str]]:
    """(path, quality, domain) of every video, after checking every expected folder exists."""
    listing = []
    for quality in qualities:
        folders = [("real", root / "original_sequences" / "youtube" / quality / "videos")]
        folders += [(m, root / "manipulated_sequences" / m / quality / "videos") for m in methods]
        found = []
        for domain, folder in folders:
            found += [(p, quality, domain) for p in video_files(require_dir(folder, dataset))]
        if not found:
            raise no_videos(dataset, root, quality)
        listing += found
    return listing


def mask_video(root: Path, domain: str, vid: str) -> str:
    """A fake's manipulation-mask video (``manipulated_sequences/<method>/masks/videos/<T_S>.mp4``, as FF++
    ships them and synthff ``--masks`` writes them), "" when there is none (reals, or masks not downloaded)."""
    if domain == "real":
        return ""
    path = root / "manipulated_sequences" / domain / "masks" / "videos" / f"{vid}.mp4"
    return str(path) if path.is_file() else ""


def read_ffpp(
    root: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
    dataset: str = "ffpp",
    seed: int = 0,
) -> list[Video]:
    """FF++-layout videos with their split.

    Args:
        root: the dataset root (holding ``original_sequences`` and ``manipulated_sequences``).
        qualities: compression levels to read (c23, c40, raw).
        splits_dir: folder of the official ``train/val/test.json``; None = ``ROOT/splits`` when it holds
            ``train.json``, else a seeded split (``seeded_split``) with a warning.
        methods: manipulation folders to require and read (names or DF/F2F/FS/NT); None = all four.
        dataset: the ``dataset`` field written (``ffpp`` or ``synthff``).
        seed: seed of the fallback split.
    """
    root = dataset_root(root, dataset)
    if isinstance(qualities, str):
        qualities = [qualities]
    listing = _list(root, qualities, resolve_methods(methods), dataset)

    if splits_dir is None and (root / "splits" / "train.json").is_file():
        splits_dir = root / "splits"
    if splits_dir is not None:
        assign = split_assignment(read_split_files(splits_dir))
    else:
        warnings.warn(
            f"{dataset}: no split files (pass splits_dir or put train/val/test.json in {root / 'splits'}); "
            f"using a seeded {'/'.join(str(round(f * 100)) for f in SPLIT_FRACTIONS)} split (seed {seed}), "
            "so numbers are not comparable with the paper",
            UserWarning,
            stacklevel=2,
        )
        fake_pairs = [pair for p, _, domain in listing if domain != "real" and (pair := parse_pair(p.stem))]
        ids = {p.stem for p, _, domain in listing if domain == "real"} | {i for pair in fake_pairs for i in pair}
        assign = seeded_split(ids, fake_pairs, seed=seed)

    videos, dropped, bad_names = [], 0, []
    for path, quality, domain in listing:
        vid = path.stem
        if domain == "real":
            target, source = vid, ""
        elif pair := parse_pair(vid):
            target, source = pair
        else:
            bad_names.append(str(path))
            continue
        split = assign.get(vid)
        if split is None:
            dropped += 1
            continue
        videos.append(
            Video(
                path=str(path),
                label=int(domain != "real"),
                dataset=dataset,
                domain=domain,
                quality=quality,
                split=split,
                video_id=vid,
                target_id=target,
                source_id=source,
                mask=mask_video(root, domain, vid),
            )
        )
    if bad_names:
        log.warning("%s: skipped %d fake video(s) not named T_S.mp4, e.g. %s", dataset, len(bad_names), bad_names[0])
    if dropped:
        log.warning("%s: dropped %d video(s) whose id is in no split", dataset, dropped)
    if not videos:
        raise ValueError(
            f"{dataset}: none of the {len(listing)} videos under {root} is in a split ({splits_dir or 'seeded split'})"
        )
    return videos


def read_synthff(
    root: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Video]:
    """The embedded synthetic benchmark: FF++ layout, split files in ``ROOT/splits`` by default."""
    return read_ffpp(root, qualities=qualities, splits_dir=splits_dir, methods=methods, dataset="synthff", seed=seed)
