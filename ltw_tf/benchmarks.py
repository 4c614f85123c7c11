"""The benchmark registry (paper Table 1): name -> quality, source domains, target test sets. Data, not code.

FF++-layout benchmarks run on whichever FF++-layout dataset a manifest holds (``ffpp`` or the embedded
``synthff``), so ``gid-fs23`` on a prepared synthff root is the same code path as on real FaceForensics++.
Adding a benchmark is one ``_register`` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ltw_tf.data.manifest import Face, select

FF_LAYOUT = ("ffpp", "synthff")  # datasets with the FaceForensics++ layout and official-style splits
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
REAL = "real"


@dataclass(frozen=True)
class TargetSet:
    """One evaluation set: reals plus the fakes of ``fake_domain`` from ``dataset`` at ``quality``."""

    name: str
    dataset: str  # "ff" = the FF++-layout dataset of the manifest; else a dataset name (celebdf, dfdc)
    fake_domain: str
    quality: str  # "" for datasets without quality levels


@dataclass(frozen=True)
class Benchmark:
    name: str
    quality: str
    sources: tuple[str, ...]
    targets: tuple[TargetSet, ...]
    description: str


BENCHMARKS: dict[str, Benchmark] = {}


def _register(benchmark: Benchmark) -> None:
    BENCHMARKS[benchmark.name] = benchmark


_SHORT = {"df": "Deepfakes", "f2f": "Face2Face", "fs": "FaceSwap", "nt": "NeuralTextures"}
for _short, _held_out in _SHORT.items():
    for _q in ("23", "40"):
        _register(
            Benchmark(
                name=f"gid-{_short}{_q}",
                quality=f"c{_q}",
                sources=tuple(m for m in FF_METHODS if m != _held_out),
                targets=(TargetSet(_held_out, "ff", _held_out, f"c{_q}"),),
                description=f"GID: train on the other three FF++ methods at c{_q}, test on unseen {_held_out}",
            )
        )
_register(
    Benchmark(
        name="gcd",
        quality="c23",
        sources=FF_METHODS,
        targets=(
            TargetSet("Celeb-DF", "celebdf", "Celeb-synthesis", ""),
            TargetSet("DFDC", "dfdc", "DFDC", ""),
            *(TargetSet(m, "ff", m, "c23") for m in FF_METHODS),
        ),
        description="GCD: train on all four FF++ methods at c23, test on Celeb-DF, DFDC and the FF++ test sets",
    )
)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (case-insensitive), with the valid names in the error."""
    try:
        return BENCHMARKS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}") from None


def ff_dataset(faces: Sequence[Face]) -> str:
    """Which FF++-layout dataset the manifest holds (ffpp or synthff)."""
    present = sorted({f.dataset for f in faces} & set(FF_LAYOUT))
    if not present:
        raise ValueError(
            f"the manifest holds no FF++-layout dataset ({' or '.join(FF_LAYOUT)}); "
            "prepare one with `ltw-tf prepare ROOT --dataset ffpp|synthff`"
        )
    if len(present) > 1:
        raise ValueError(f"the manifest holds both {present}; prepare them into separate folders")
    return present[0]


def _nonempty(faces: list[Face], what: str) -> list[Face]:
    if not faces:
        raise ValueError(f"{what} is empty in this manifest")
    return faces


def source_faces(benchmark: Benchmark, faces: Sequence[Face], split: str = "train") -> list[Face]:
    """Reals and the source domains' fakes of the FF++-layout dataset, at the benchmark's quality."""
    dataset = ff_dataset(faces)
    chosen = select(faces, datasets=[dataset], qualities=[benchmark.quality], splits=[split])
    for domain in (REAL, *benchmark.sources):
        _nonempty(
            [f for f in chosen if f.domain == domain],
            f"source domain {domain!r} ({dataset} {benchmark.quality} {split})",
        )
    return [f for f in chosen if f.domain in (REAL, *benchmark.sources)]


def target_faces(benchmark: Benchmark, faces: Sequence[Face], split: str = "test") -> dict[str, list[Face]]:
    """Each target set's reals and fakes (the held-out domain(s)), by target name."""
    out = {}
    for target in benchmark.targets:
        dataset = ff_dataset(faces) if target.dataset == "ff" else target.dataset
        chosen = select(faces, datasets=[dataset], qualities=[target.quality], splits=[split])
        what = f"target {target.name} ({dataset} {target.quality or 'no quality'} {split})"
        reals = _nonempty([f for f in chosen if f.domain == REAL], f"{what}: reals")
        fakes = _nonempty([f for f in chosen if f.domain == target.fake_domain], f"{what}: fakes")
        out[target.name] = reals + fakes
    return out
